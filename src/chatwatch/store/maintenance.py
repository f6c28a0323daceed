"""Keeping the store small: compaction and retention.

Compaction: per-minute rollups older than the minute retention are deleted. Their hour
and day rows already hold the same counts (every increment is folded into all three
resolutions at ingest), and reads of ranges past the minute retention already use whole
hours (``Store.segments``), so compaction never changes an answer.

Retention: raw events older than the event retention expire, and so do the rows of
sessions not seen since then. Rollups are kept: every metric stays answerable for any
past window, and the all-time counters behind ``/metrics`` stay monotonic.

Per-user usage (``user_usage``, one row per user per hour) expires with the events, but
never sooner than the longest rolling per-user window needs (``USAGE_KEEP_S``: 30 days
and the hour a 30-day window rolls out to), so a 30-day per-user limit stays exact even
when events are kept for a shorter time. Rules refuse per-user windows over 30 days
(``USER_WINDOW_MAX_S``), so a fixed keep is exact for every rule;
it is not read from the loaded rules because the CLI loads none and a reload must never
find its window already pruned.

Work is done in bounded batches, each its own short write transaction, so ingest is never
blocked for long. Every delete is idempotent; on PostgreSQL each batch also takes a
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

from sqlalchemy import Connection, Table, bindparam, delete, func, select, text, tuple_

from chatwatch.config import Settings
from chatwatch.store import Store
from chatwatch.store.rollup import DAY, HOUR, MINUTE
from chatwatch.store.schema import (
    HIST_KEY,
    ROLLUP_KEY,
    event_sessions,
    events,
    rollup_hist,
    rollups,
    sessions,
    user_usage,
)

__all__ = [
    "KINDS",
    "USAGE_KEEP_S",
    "USER_WINDOW_MAX_S",
    "MaintenanceResult",
    "Plan",
    "count_expired",
    "maintenance_task",
    "plan_from_settings",
    "run_from_settings",
    "run_maintenance",
]

log = logging.getLogger("chatwatch.maintenance")
_LOCK_KEY = 727100002
KINDS = ("minute_rollups", "minute_histograms", "events", "sessions", "user_usage")
USER_WINDOW_MAX_S = 30 * DAY  # the longest rolling per-user window a rule may read
# such a window reads the hours overlapping it: one more
USAGE_KEEP_S = USER_WINDOW_MAX_S + HOUR


@dataclass
class MaintenanceResult:
    minute_rollups: int = 0
    minute_histograms: int = 0
    events: int = 0
    sessions: int = 0
    user_usage: int = 0
    done: bool = True  # False: stopped at max_batches with work left
    skipped: bool = False  # another process holds the maintenance lock

    @property
    def deleted(self) -> int:
        return sum(getattr(self, kind) for kind in KINDS)

    def add(self, other: MaintenanceResult) -> None:
        for kind in KINDS:
            setattr(self, kind, getattr(self, kind) + getattr(other, kind))


@dataclass(frozen=True)
class Plan:
    """What a round deletes: rows before these cutoffs, ``batch_rows`` per transaction."""

    minute_cutoff: int
    event_cutoff: float
    batch_rows: int = 20_000
    usage_cutoff: int | None = None  # user_usage hours before this (None: the events' rule)

    @property
    def usage_hour(self) -> int:
        """User-usage rows of hours before this go (``plan_from_settings`` keeps
        ``USAGE_KEEP_S``; a hand-made plan without one: the event cutoff's hour)."""
        if self.usage_cutoff is not None:
            return self.usage_cutoff
        return int(self.event_cutoff) // HOUR * HOUR


def plan_from_settings(store: Store, settings: Settings, now: float | None = None) -> Plan:
    now = time.time() if now is None else now
    event_cutoff = now - settings.event_retention_days * DAY
    return Plan(
        minute_cutoff=store.minute_cutoff(now),
        event_cutoff=event_cutoff,
        batch_rows=settings.maintenance_batch_rows,
        usage_cutoff=int(min(event_cutoff, now - USAGE_KEEP_S)) // HOUR * HOUR,
    )


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
    e = events.c
    query = select(e.id, e.service, e.session_id, e.ts).where(e.ts < cutoff).order_by(e.ts)
    batch = conn.execute(query.limit(n)).all()
    if not batch:
        return 0
    ids = [row.id for row in batch]
    result = conn.execute(delete(events).where(e.id.in_(ids)))
    # their rows of the session index, each found by its whole key
    es = event_sessions.c
    keyed = [
        {"s": row.service, "sid": row.session_id, "ts": row.ts, "id": row.id}
        for row in batch
        if row.session_id is not None
    ]
    if keyed:
        match = (
            (es.service == bindparam("s"))
            & (es.session_id == bindparam("sid"))
            & (es.ts == bindparam("ts"))
            & (es.id == bindparam("id"))
        )
        conn.execute(delete(event_sessions).where(match), keyed)
    return int(result.rowcount or 0)


def _delete_sessions(conn: Connection, cutoff: float, n: int) -> int:
    s = sessions.c
    batch = select(s.service, s.session_id).where(s.last_seen < cutoff).limit(n)
    result = conn.execute(delete(sessions).where(tuple_(s.service, s.session_id).in_(batch)))
    return int(result.rowcount or 0)


def _delete_usage(conn: Connection, cutoff: int, n: int) -> int:
    u = user_usage.c
    batch = select(u.hour, u.service, u.user_id).where(u.hour < cutoff).limit(n)
    result = conn.execute(delete(user_usage).where(tuple_(u.hour, u.service, u.user_id).in_(batch)))
    return int(result.rowcount or 0)


def _jobs(plan: Plan) -> list[tuple[str, Callable[[Connection], int]]]:
    n = plan.batch_rows
    return [
        (
            "minute_rollups",
            lambda c: _delete_minutes(c, rollups, ROLLUP_KEY, plan.minute_cutoff, n),
        ),
        (
            "minute_histograms",
            lambda c: _delete_minutes(c, rollup_hist, HIST_KEY, plan.minute_cutoff, n),
        ),
        ("events", lambda c: _delete_events(c, plan.event_cutoff, n)),
        ("sessions", lambda c: _delete_sessions(c, plan.event_cutoff, n)),
        ("user_usage", lambda c: _delete_usage(c, plan.usage_hour, n)),
    ]


def count_expired(store: Store, plan: Plan) -> MaintenanceResult:
    """The rows a round would delete, per kind (for progress bars and dry runs)."""
    queries = {
        "minute_rollups": select(func.count()).where(
            rollups.c.res == MINUTE, rollups.c.bucket < plan.minute_cutoff
        ),
        "minute_histograms": select(func.count()).where(
            rollup_hist.c.res == MINUTE, rollup_hist.c.bucket < plan.minute_cutoff
        ),
        "events": select(func.count()).select_from(events).where(events.c.ts < plan.event_cutoff),
        "sessions": select(func.count())
        .select_from(sessions)
        .where(sessions.c.last_seen < plan.event_cutoff),
        "user_usage": select(func.count())
        .select_from(user_usage)
        .where(user_usage.c.hour < plan.usage_hour),
    }
    out = MaintenanceResult()
    with store.read() as conn:
        for kind, query in queries.items():
            setattr(out, kind, int(conn.execute(query).scalar() or 0))
    return out


def run_maintenance(
    store: Store,
    plan: Plan,
    *,
    max_batches: int | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> MaintenanceResult:
    """Delete expired minute rollups, events, sessions and user usage, one batch per transaction;
    ``progress(kind, deleted)`` is called after each batch."""
    result = MaintenanceResult()
    batches = 0
    store.fold_journal()  # rollups first complete, so what is compacted is final
    for kind, job in _jobs(plan):
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
            setattr(result, kind, getattr(result, kind) + deleted)
            if progress is not None:
                progress(kind, deleted)
            if deleted < plan.batch_rows:
                break
    return result


def run_from_settings(
    store: Store, settings: Settings, now: float | None = None, max_batches: int | None = None
) -> MaintenanceResult:
    return run_maintenance(store, plan_from_settings(store, settings, now), max_batches=max_batches)


class _HasStore(Protocol):
    store: Store
    settings: Settings


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
                total.add(step)
                if step.done or step.skipped:
                    break
            if total.deleted:
                log.info(
                    "maintenance deleted %s",
                    ", ".join(f"{getattr(total, k)} {k.replace('_', ' ')}" for k in KINDS),
                )
        except Exception:
            log.exception("maintenance round failed; retrying next interval")
