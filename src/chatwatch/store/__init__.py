"""Persistence behind one small interface; SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Engine

from chatwatch.cancel import check as check_cancelled
from chatwatch.events import Event
from chatwatch.store.activity import (
    FAR_FUTURE,
    Instance,
    last_hours,
    merge_last_hours,
    read_instances,
    read_last_seen,
    read_user_usage,
)
from chatwatch.store.aggregate import Aggregate, Filters
from chatwatch.store.engine import (
    StoreUnavailable,
    Synchronous,
    is_sqlite,
    make_engine,
    migrate,
    must_exist,
)
from chatwatch.store.journal import (
    Journalled,
    has_pending,
    pending_ids,
    probe_write,
    quarantine,
    quarantined,
    take_one,
    unavailable,
)
from chatwatch.store.labels import LabelGuard, LabelStatus, read_status
from chatwatch.store.providers import read_model_providers
from chatwatch.store.readcache import ReadCache
from chatwatch.store.reader import (
    Bins,
    Cells,
    Segment,
    merge_bins,
    merge_cells,
    merge_counts,
    merge_groups,
    plan,
    read_bucketed,
    read_groups,
    read_hist_bucketed,
    read_histograms,
    read_open_sessions,
    read_totals,
    read_user_sums,
)
from chatwatch.store.rollup import DAY, HOUR
from chatwatch.store.sessions_read import (
    ErrorTurn,
    SessionRow,
    StoredEvent,
    read_error_turns,
    read_escalated_sessions,
    read_recent_sessions,
    read_services,
    read_session,
    read_session_events,
)
from chatwatch.store.writer import (
    IngestResult,
    Prepared,
    apply_delta,
    fold_journal,
    write_events,
    write_prepared,
)

__all__ = [
    "Aggregate",
    "Bins",
    "Filters",
    "IngestResult",
    "Instance",
    "LabelStatus",
    "Segment",
    "Store",
    "StoreUnavailable",
]

_MAX_JOURNALLED = 4096
log = logging.getLogger("chatwatch.store")


class Store:
    """Owns the engine and the one place transactions begin, commit and roll back."""

    def __init__(
        self,
        url: str = "sqlite:///chatwatch.db",
        *,
        store_text: bool = False,
        minute_retention_s: int = 7 * DAY,
        auto_migrate: bool = True,
        cache_ttl_s: float = 60.0,
        label_caps: Mapping[str, int] | None = None,
        create: bool = True,
        sqlite_synchronous: Synchronous = "normal",
    ) -> None:
        """``create=False`` (every command but migrate, serve and demo) never makes a
        database: a missing SQLite file, an empty schema or a database that cannot be
        read raises :class:`StoreUnavailable` instead."""
        if not create:
            must_exist(url)
        self.engine: Engine = make_engine(url, sqlite_synchronous=sqlite_synchronous)
        # distinct values per label admitted to the rollups (store/labels.py)
        self.labels = LabelGuard(label_caps)
        self.store_text = store_text
        self.minute_retention_s = minute_retention_s
        # sealed buckets remembered across reads (0: off); see store/readcache.py
        self.cache = ReadCache(ttl_s=cache_ttl_s)
        # SQLite has one writer; queueing threads here beats spinning on busy_timeout.
        self._write_lock = threading.Lock() if is_sqlite(self.engine) else None
        # increments this process journalled, kept so its folds need not decode them
        self._journalled: dict[int, Journalled] = {}
        self._journal_lock = threading.Lock()
        self.fold_failures = 0  # folds failed in a row (the database unwritable or gone)
        self.quarantined_rows = 0  # journal rows this process moved to quarantine
        if auto_migrate:
            migrate(self.engine)
        # A forked child must not reuse the parent's connections (SQLAlchemy's advice).
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _reset_after_fork(ref))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        if self._write_lock is not None:
            with self._write_lock, self._begin_write() as conn:
                yield conn
        else:
            with self._begin_write() as conn:
                yield conn

    @contextmanager
    def _begin_write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(chatwatch_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _guarded_write(self) -> Iterator[Connection]:
        """A write that may admit label values: rolled back, the guard forgets them."""
        try:
            with self.write() as conn:
                yield conn
        except BaseException:
            self.labels.forget()
            raise

    def label_status(self) -> list[LabelStatus]:
        """Each capped label: its cap, values admitted, rollup increments folded."""
        with self.read() as conn:
            return read_status(conn, self.labels.caps)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def ingest(self, batch: Sequence[Event]) -> IngestResult:
        """Store a validated batch; returns only after it is committed."""
        with self._guarded_write() as conn:
            result = write_events(conn, batch, store_text=self.store_text, guard=self.labels)
        if batch and self.cache.enabled:
            self.cache.invalidate(min(e.ts for e in batch))
        return result

    def ingest_prepared(
        self, batches: Sequence[Prepared], *, defer: bool = False
    ) -> list[IngestResult]:
        """Several prepared batches in one transaction (the server's group commit); with
        ``defer`` their rollup increments wait in the journal (see store/journal.py)."""
        journalled: list[tuple[int, Journalled]] = []
        with self._guarded_write() as conn:
            results = write_prepared(
                conn, batches, defer=defer, journalled=journalled, guard=self.labels
            )
        if journalled:
            with self._journal_lock:
                if len(self._journalled) < _MAX_JOURNALLED:  # past it, folds read them back
                    self._journalled.update(journalled)
        if not defer and self.cache.enabled and any(b.rows for b in batches):
            self.cache.invalidate(min(b.min_ts for b in batches if b.rows))
        return results  # deferred: rollups change, and the cache is told, when folded

    def fold_journal(self) -> int:
        """Apply the rollup journal; returns the journal rows folded. A row that cannot be
        folded is quarantined and the rest applied (see ``_fold_apart``); a database that
        cannot be reached or written raises, and ``fold_failures`` counts it."""
        try:
            try:
                folded = self._fold_all()
            except Exception as exc:
                if unavailable(exc):
                    raise
                folded = self._fold_apart()
        except Exception as exc:
            self._fold_failed(exc)
            raise
        self.fold_failures = 0
        return folded

    def _fold_all(self) -> int:
        try:
            with self.write() as conn:
                with self._journal_lock:
                    known = dict(self._journalled)
                folded = fold_journal(conn, known)
        except BaseException:
            with self._journal_lock:  # the deltas handed over may be half merged
                self._journalled.clear()
            raise
        if folded is None:
            return 0
        ids, min_ts = folded
        with self._journal_lock:
            for journal_id in ids:
                self._journalled.pop(journal_id, None)
        if self.cache.enabled:
            self.cache.invalidate(min_ts)
        return len(ids)

    def _fold_apart(self) -> int:
        """Fold row by row after a fold failed: a row that fails alone (a delta that
        cannot be decoded or stored) moves to ``rollup_journal_quarantine``, logged once
        without its content, so it can never block reads again."""
        with self.read() as conn:
            ids = pending_ids(conn)
        folded, min_ts = 0, float("inf")
        for journal_id in ids:
            try:
                with self.write() as conn:
                    taken = take_one(conn, journal_id)
                    if taken is not None:
                        apply_delta(conn, taken[0])
            except Exception as exc:
                if unavailable(exc):
                    raise
                with self.write() as conn:
                    moved = quarantine(conn, journal_id, type(exc).__name__)
                if moved:
                    self.quarantined_rows += 1
                    log.error(
                        "chatwatch: rollup-journal row %d failed to fold (%s); moved to "
                        "rollup_journal_quarantine, reads go on without it",
                        journal_id,
                        type(exc).__name__,
                    )
                continue
            if taken is not None:
                folded += 1
                min_ts = min(min_ts, taken[1])
        if folded and self.cache.enabled:
            self.cache.invalidate(min_ts)
        return folded

    def _fold_failed(self, exc: BaseException) -> None:
        self.fold_failures += 1
        if self.fold_failures == 1:
            log.warning("chatwatch: folding the rollup journal failed (%s)", type(exc).__name__)

    def quarantined(self) -> int:
        """Journal rows held in quarantine (all processes, all time)."""
        with self.read() as conn:
            return quarantined(conn)

    def probe_write(self) -> None:
        """One tiny committed write (``/readyz``): raises when the database cannot be
        written (read-only, disk full, gone)."""
        with self.write() as conn:
            probe_write(conn)

    @contextmanager
    def _settled(self) -> Iterator[Connection]:
        """A read of rollups or sessions, after folding what the journal holds, so it
        counts every event acknowledged before it began. A read whose client left stops
        here, before its next query (chatwatch.cancel)."""
        check_cancelled()
        with self.read() as conn:
            if not has_pending(conn):
                yield conn
                return
        # unwritable or busy: read what the rollups hold (fold_journal logs it, once)
        with contextlib.suppress(Exception):
            self.fold_journal()
        with self.read() as conn:
            yield conn

    def settled(self) -> AbstractContextManager[Connection]:
        """A read transaction that sees every acknowledged event's rollups and sessions
        (for readers outside this class: the read API, exports)."""
        return self._settled()

    def minute_cutoff(self, now: float | None = None) -> int:
        """The hour boundary before which per-minute rollups may be gone."""
        now = time.time() if now is None else now
        return int(now - self.minute_retention_s) // HOUR * HOUR

    def segments(self, start: int, end: int, now: float | None = None) -> list[Segment]:
        """Buckets covering [start, end); past the minute retention, whole hours are used."""
        cutoff = self.minute_cutoff(now)
        if start >= cutoff:
            return plan(start, end)
        hour_start = start // HOUR * HOUR
        if end <= cutoff:
            return plan(hour_start, -(-end // HOUR) * HOUR, HOUR)
        return plan(hour_start, cutoff, HOUR) + plan(cutoff, end)

    def aggregate(
        self,
        start: int,
        end: int,
        filters: Filters = Filters(),
        series: list[str] | None = None,
        now: float | None = None,
    ) -> Aggregate:
        return self.aggregate_by((), start, end, filters, series, now).get((), Aggregate())

    def aggregate_by(
        self,
        by: Sequence[str],
        start: int,
        end: int,
        filters: Filters = Filters(),
        series: list[str] | None = None,
        now: float | None = None,
    ) -> dict[tuple[Any, ...], Aggregate]:
        """One Aggregate per value of the ``by`` columns (e.g. ``("service",)``)."""
        now = time.time() if now is None else now
        kind = ("groups", filters, tuple(series) if series is not None else None, tuple(by))
        with self._settled() as conn:

            def fetch(segs: Sequence[Segment], by_bucket: bool) -> dict[tuple[Any, ...], Aggregate]:
                keys = ("bucket", *by) if by_bucket else tuple(by)
                return read_groups(conn, segs, filters, series, keys)

            return self.cache.read(kind, self.segments(start, end, now), now, fetch, merge_groups)

    def totals(
        self, series: Sequence[str], filters: Filters = Filters()
    ) -> list[tuple[str, str, str, str, str, str, int, float]]:
        """All-time sums by every label column, from the daily rollups (sealed days
        remembered): ``(service, series, model, dim, user_type, channel, n, total)``."""
        now = time.time()
        days = [(DAY, 0, int(now) // DAY * DAY + DAY)]
        with self._settled() as conn:

            def fetch(segs: Sequence[Segment], by_bucket: bool) -> Cells:
                return read_totals(conn, series, filters, segs)

            kind = ("totals", tuple(series), filters)
            sums = self.cache.read(kind, days, now, fetch, merge_cells)
        return [(*key, int(n), float(total)) for key, (n, total) in sums.items()]

    def histogram(
        self,
        series: str,
        start: int,
        end: int,
        filters: Filters = Filters(),
        model: str | None = None,
        now: float | None = None,
    ) -> Bins:
        if model is not None:
            filters = replace(filters, model=model)
        grouped = self.histograms([series], start, end, filters, now=now)
        merged: Bins = {}
        for bins in grouped.values():
            for index, n in bins.items():
                merged[index] = merged.get(index, 0) + n
        return merged

    def histograms(
        self,
        series: Sequence[str],
        start: int,
        end: int,
        filters: Filters = Filters(),
        by: Sequence[str] = (),
        now: float | None = None,
    ) -> dict[tuple[Any, ...], Bins]:
        """Histogram bins keyed by ``(*by values, series, model)``."""
        now = time.time() if now is None else now
        kind = ("hist", filters, tuple(series), tuple(by))
        with self._settled() as conn:

            def fetch(segs: Sequence[Segment], by_bucket: bool) -> dict[tuple[Any, ...], Bins]:
                keys = ("bucket", *by) if by_bucket else tuple(by)
                return read_histograms(conn, segs, series, filters, keys)

            return self.cache.read(kind, self.segments(start, end, now), now, fetch, merge_bins)

    def bucketed(
        self,
        res: int,
        start: int,
        end: int,
        filters: Filters = Filters(),
        series: list[str] | None = None,
    ) -> dict[int, Aggregate]:
        with self._settled() as conn:
            return read_bucketed(conn, res, start // res * res, end, filters, series)

    def hist_bucketed(
        self, res: int, start: int, end: int, series: str, filters: Filters = Filters()
    ) -> dict[int, Bins]:
        with self._settled() as conn:
            return read_hist_bucketed(conn, res, start // res * res, end, series, filters)

    def hist_groups_bucketed(
        self, res: int, start: int, end: int, series: Sequence[str], filters: Filters = Filters()
    ) -> dict[int, dict[tuple[str, str], Bins]]:
        """Per bucket of size ``res``: bins keyed by ``(series, model)``."""
        with self._settled() as conn:
            grouped = read_histograms(
                conn, [(res, start // res * res, end)], series, filters, ("bucket",)
            )
        out: dict[int, dict[tuple[str, str], Bins]] = {}
        for (bucket, s, model), bins in grouped.items():
            out.setdefault(int(bucket), {})[(s, model)] = bins
        return out

    def open_sessions(
        self, since: float, filters: Filters = Filters(), *, by_service: bool = False
    ) -> dict[str, tuple[int, int]]:
        """Open sessions and WebSocket connections, keyed by service (``""``: all)."""
        with self._settled() as conn:
            return read_open_sessions(conn, since, filters, by_service)

    def top_users(
        self, start: int, end: int, service: str | None = None, limit: int = 10
    ) -> list[tuple[str, int]]:
        """Users by messages over whole UTC days (sums of sealed days remembered)."""
        days = [(DAY, start // DAY * DAY, -(-end // DAY) * DAY)]
        with self._settled() as conn:

            def fetch(segs: Sequence[Segment], by_bucket: bool) -> dict[Any, int]:
                return read_user_sums(conn, segs, service)

            sums = self.cache.read(("users", service), days, time.time(), fetch, merge_counts)
        if not sums:
            return []
        floor = min(heapq.nlargest(limit, sums.values()))  # only these can be in the top
        ranked = sorted((-n, user) for user, n in sums.items() if n >= floor)[:limit]
        return [(str(user), int(-n)) for n, user in ranked]

    # Single sessions and their raw events (the dashboard's tables and session page).

    def recent_sessions(
        self, since: float, until: float, service: str | None = None, limit: int = 20
    ) -> list[SessionRow]:
        with self._settled() as conn:
            return read_recent_sessions(conn, since, until, service, limit)

    def escalated_sessions(
        self, since: float, until: float, service: str | None = None, limit: int = 20
    ) -> list[SessionRow]:
        with self._settled() as conn:
            return read_escalated_sessions(conn, since, until, service, limit)

    def error_turns(
        self, since: float, until: float, service: str | None = None, limit: int = 20
    ) -> list[ErrorTurn]:
        with self._settled() as conn:
            return read_error_turns(conn, since, until, service, limit)

    def session(self, service: str, session_id: str) -> SessionRow | None:
        with self._settled() as conn:
            return read_session(conn, service, session_id)

    def session_events(self, service: str, session_id: str) -> list[StoredEvent]:
        with self._settled() as conn:
            return read_session_events(conn, service, session_id)

    def first_bucket(self) -> float | None:
        """The start of the first day with stored data (daily rollups are never
        compacted), or None for an empty store: where ``window=all`` begins."""
        with self._settled() as conn:
            found = conn.exec_driver_sql(
                f"SELECT min(bucket) FROM rollups WHERE res = {DAY}"
            ).scalar()
        return None if found is None else float(found)

    def services(self, since: float = 0.0) -> list[str]:
        with self._settled() as conn:
            return read_services(conn, since)

    def last_seen(self, since: float, service: str | None = None) -> dict[str, float]:
        """When each service last sent anything (heartbeats included), to the minute."""
        with self._settled() as conn:
            if not self.cache.enabled:
                return read_last_seen(conn, since, service)
            now = time.time()
            hours = self.cache.read(
                ("last_hour", service),
                [(HOUR, int(since) // HOUR * HOUR, FAR_FUTURE)],
                now,
                lambda segments, _by_bucket: last_hours(conn, segments, service),
                merge_last_hours,
            )
            return read_last_seen(conn, since, service, hours)

    def instances(self, since: float, service: str | None = None) -> list[Instance]:
        """The app processes' latest heartbeats since ``since``."""
        with self.read() as conn:
            return read_instances(conn, since, service)

    def user_usage(
        self, start: int, end: int, service: str | None = None
    ) -> dict[str, tuple[int, int, float]]:
        """LLM calls, tokens and cost per user over the hours overlapping [start, end)."""
        with self._settled() as conn:
            return read_user_usage(conn, start, end, service)

    def model_providers(
        self, start: float, end: float, service: str | None = None
    ) -> dict[str, str]:
        """Model -> provider from the LLM call events in [start, end) (see store.providers)."""
        with self._settled() as conn:
            return read_model_providers(conn, start, end, service)

    def close(self) -> None:
        self.engine.dispose()


def _reset_after_fork(ref: weakref.ref[Store]) -> None:
    store = ref()
    if store is not None:
        store.engine.dispose(close=False)
        if store._write_lock is not None:
            store._write_lock = threading.Lock()
        store._journal_lock = threading.Lock()
        store._journalled = {}
