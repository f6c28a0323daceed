"""Keeping the store small: per-minute rollups past the minute retention are deleted
(hour and day rows stay, and reads of those ranges already use hours, see
``Store.segments``), and raw events past the event retention expire.

Work is done in bounded batches, each its own short write transaction, so ingest is
never blocked for long. Every delete is idempotent; on PostgreSQL each batch also takes a
transaction-level advisory lock, so when several server processes run maintenance at
once, one does the work and the others skip the round.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection, Table, delete, select, text, tuple_

from chatwatch.config import Settings
from chatwatch.store import Store
from chatwatch.store.rollup import DAY, MINUTE
from chatwatch.store.schema import HIST_KEY, ROLLUP_KEY, events, rollup_hist, rollups

__all__ = ["MaintenanceResult", "maintenance_task", "run_maintenance"]

log = logging.getLogger("chatwatch.maintenance")
_LOCK_KEY = 727100002


@dataclass
class MaintenanceResult:
    minute_rollups: int = 0
    minute_histograms: int = 0
    events: int = 0
    done: bool = True  # False: stopped at max_batches with work left
    skipped: bool = False  # another process holds the maintenance lock

    @property
    def deleted(self) -> int:
        return self.minute_rollups + self.minute_histograms + self.events


class _HasStore(Protocol):
    store: Store
    settings: Settings


def _locked(conn: Connection) -> bool:
    """Whether this transaction may do maintenance (always, except on a busy PostgreSQL)."""
    if conn.dialect.name != "postgresql":
        return True
    return bool(conn.execute(text(f"SELECT pg_try_advisory_xact_lock({_LOCK_KEY})")).scalar())


def _delete_minutes(
    conn: Connection, table: Table, key: tuple[str, ...], cutoff: int, n: int
) -> int:
    cols = [table.c[name] for name in key]
    batch = select(*cols).where(table.c.res == MINUTE, table.c.bucket < cutoff).limit(n)
    result = conn.execute(delete(table).where(tuple_(*cols).in_(batch)))
    return int(result.rowcount or 0)


def _delete_events(conn: Connection, cutoff: float, n: int) -> int:
    batch = select(events.c.id).where(events.c.ts < cutoff).order_by(events.c.ts).limit(n)
    result = conn.execute(delete(events).where(events.c.id.in_(batch)))
    return int(result.rowcount or 0)


def run_maintenance(
    store: Store,
    *,
    event_retention_s: float,
    now: float | None = None,
    batch_rows: int = 20_000,
    max_batches: int | None = None,
) -> MaintenanceResult:
    """Delete expired minute rollups and events, ``batch_rows`` rows per transaction."""
    now = time.time() if now is None else now
    minute_cutoff = store.minute_cutoff(now)
    event_cutoff = now - event_retention_s
    result = MaintenanceResult()
    jobs: list[tuple[str, Callable[[Connection], int]]] = [
        (
            "minute_rollups",
            lambda c: _delete_minutes(c, rollups, ROLLUP_KEY, minute_cutoff, batch_rows),
        ),
        (
            "minute_histograms",
            lambda c: _delete_minutes(c, rollup_hist, HIST_KEY, minute_cutoff, batch_rows),
        ),
        ("events", lambda c: _delete_events(c, event_cutoff, batch_rows)),
    ]
    batches = 0
    for field, job in jobs:
        while True:
            if max_batches is not None and batches >= max_batches:
                result.done = False
                return result
            batches += 1
            with store.write() as conn:
                if not _locked(conn):
                    result.skipped = True
                    return result
                deleted = job(conn)
            setattr(result, field, getattr(result, field) + deleted)
            if deleted < batch_rows:
                break
    return result


def run_from_settings(
    store: Store, settings: Settings, now: float | None = None, max_batches: int | None = None
) -> MaintenanceResult:
    return run_maintenance(
        store,
        event_retention_s=settings.event_retention_days * DAY,
        now=now,
        batch_rows=settings.maintenance_batch_rows,
        max_batches=max_batches,
    )


async def maintenance_task(st: _HasStore) -> None:
    """The server's background loop: a round every ``maintenance_interval_s`` (the first
    one interval after start), ten batches per thread hop so shutdown stays prompt."""
    interval = st.settings.maintenance_interval_s
    if interval <= 0:
        return
    while True:
        await asyncio.sleep(interval)
        try:
            total = MaintenanceResult()
            while True:
                step = await asyncio.to_thread(run_from_settings, st.store, st.settings, None, 10)
                total.minute_rollups += step.minute_rollups
                total.minute_histograms += step.minute_histograms
                total.events += step.events
                if step.done or step.skipped:
                    break
            if total.deleted:
                log.info(
                    "maintenance deleted %d minute rollups, %d minute histogram rows, %d events",
                    total.minute_rollups,
                    total.minute_histograms,
                    total.events,
                )
        except Exception:
            log.exception("maintenance round failed; retrying next interval")
