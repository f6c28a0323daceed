"""The outbox: every notification is a row, written in the same transaction as the state
change that caused it, then delivered per channel. A failed delivery is logged and retried
with exponential backoff until ``alert_max_attempts``; a channel that fails never holds up
another channel or the evaluation.

Rows are claimed by pushing ``next_attempt_at`` a lease ahead inside a write transaction,
so two processes never deliver the same row at once; a process that dies mid-delivery
leaves the row to be retried when the lease runs out.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from chatwatch.alerts.notify.channels import Channel, channels
from chatwatch.config import Settings
from chatwatch.logsafe import clean
from chatwatch.store import Store
from chatwatch.store.schema import alert_outbox

__all__ = ["Delivery", "backoff", "deliver_due", "enqueue"]

log = logging.getLogger("chatwatch.alerts")
LEASE_S = 300.0
KEEP_S = 30 * 86400.0  # delivered and given-up rows are kept this long, for inspection
_BATCH = 100


@dataclass
class Delivery:
    sent: int = 0
    failed: int = 0  # attempts that failed this round (retried later or given up)
    given_up: int = 0


def backoff(attempts: int) -> float:
    """Seconds before retry number ``attempts`` + 1: 30 s, 1 min, 2 min ... at most 1 h."""
    return float(min(30 * 2 ** max(0, attempts - 1), 3600))


def enqueue(conn: Connection, group: dict[str, Any], channel_ids: list[str], now: float) -> None:
    """One outbox row per channel for a notification group."""
    payload = json.dumps(group, sort_keys=True)
    for cid in channel_ids:
        conn.execute(
            insert(alert_outbox).values(
                created_at=now,
                channel=cid,
                rule=group["rule"],
                status="pending",
                payload=payload,
                attempts=0,
                next_attempt_at=now,
            )
        )


def _claim(store: Store, now: float) -> list[tuple[int, str, str, int]]:
    o = alert_outbox.c
    with store.write() as conn:
        rows = list(
            conn.execute(
                select(o.id, o.channel, o.payload, o.attempts)
                .where(o.status == "pending", o.next_attempt_at <= now)
                .order_by(o.id)
                .limit(_BATCH)
            )
        )
        if rows:
            conn.execute(
                update(alert_outbox)
                .where(o.id.in_([r.id for r in rows]))
                .values(next_attempt_at=now + LEASE_S)
            )
    return [(int(r.id), str(r.channel), str(r.payload), int(r.attempts)) for r in rows]


def deliver_due(
    store: Store,
    settings: Settings,
    now: float | None = None,
    configured: Mapping[str, Channel] | None = None,
) -> Delivery:
    """Try every due row once; never raises for a channel's failure."""
    now = time.time() if now is None else now
    known = channels(settings) if configured is None else configured
    result = Delivery()
    for row_id, cid, payload, attempts in _claim(store, now):
        channel = known.get(cid)
        error: str | None = None
        if channel is None:
            error = f"channel {cid} is no longer configured"
        else:
            try:
                channel.send(json.loads(payload))
            except Exception as exc:  # any channel failure is retried, never propagated
                error = str(exc) or type(exc).__name__
        _finish(store, settings, row_id, cid, attempts + 1, error, now, result)
    _prune(store, now)
    return result


def _prune(store: Store, now: float) -> None:
    o = alert_outbox.c
    with store.write() as conn:
        conn.execute(delete(alert_outbox).where(o.status != "pending", o.created_at < now - KEEP_S))


def _finish(
    store: Store,
    settings: Settings,
    row_id: int,
    cid: str,
    attempts: int,
    error: str | None,
    now: float,
    result: Delivery,
) -> None:
    o = alert_outbox.c
    values: dict[str, Any] = {"attempts": attempts}
    if error is None:
        values.update(status="sent", sent_at=now, last_error=None)
        result.sent += 1
    elif attempts >= settings.alert_max_attempts:
        values.update(status="failed", failed_at=now, last_error=error[:2000])
        result.failed += 1
        result.given_up += 1
        log.error(
            "notification %d via %s failed %d times, giving up: %s",
            row_id,
            cid,
            attempts,
            clean(error),
        )
    else:
        retry = backoff(attempts)
        values.update(next_attempt_at=now + retry, last_error=error[:2000])
        result.failed += 1
        log.warning(
            "notification %d via %s failed (attempt %d), retrying in %.0f s: %s",
            row_id,
            cid,
            attempts,
            retry,
            clean(error),
        )
    with store.write() as conn:
        conn.execute(update(alert_outbox).where(o.id == row_id).values(**values))
