"""Ingest: store new events and their rollups in one transaction.

An event whose id is already stored is skipped, so a retried batch never counts twice;
only the events actually inserted are rolled up.

This is the ingest hot path, so rows go to the driver's ``executemany`` as plain tuples
with SQL written once per dialect (SQLAlchemy's per-row parameter handling cost three
times the database's own work). On SQLite the store holds the only write transaction, so
``INSERT OR IGNORE`` and the rowids it hands out tell which events were new; PostgreSQL,
with concurrent writers, relies on ``ON CONFLICT DO NOTHING RETURNING``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import msgspec
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from chatwatch.events import Event, parse_events
from chatwatch.events_fast import FastEvent, decode_batch
from chatwatch.events_fast import LLMCall as FastLLMCall
from chatwatch.store.bulk import execute_many
from chatwatch.store.journal import Journalled, merge_parts
from chatwatch.store.journal import append as journal_append
from chatwatch.store.journal import append_group as journal_append_group
from chatwatch.store.journal import encode as journal_encode
from chatwatch.store.journal import take_parts as journal_take_parts
from chatwatch.store.labels import LabelGuard
from chatwatch.store.rollup import (
    MINUTE,
    Delta,
    SessionDelta,
    compute_delta,
    priced_cost,
    rollup_core,
)
from chatwatch.store.schema import HIST_KEY, ROLLUP_KEY

__all__ = [
    "IngestResult",
    "Prepared",
    "apply_delta",
    "fold_journal",
    "index_rows",
    "prepare",
    "python_prepare",
    "write_batches",
    "write_events",
    "write_prepared",
]

_COMMON = {"id", "ts", "service", "session_id", "user_id", "type"}
_TEXT = {"input_text", "output_text", "text", "comment"}
_EVENT_COLUMNS = ("id", "ts", "type", "service", "session_id", "run_id", "user_id", "data")

_PG_INSERT = (
    f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) SELECT * FROM unnest("
    "%s::varchar[], %s::float8[], %s::varchar[], %s::varchar[], %s::varchar[], "
    "%s::varchar[], %s::varchar[], %s::text[]) ON CONFLICT (id) DO NOTHING RETURNING id"
)

_SQLITE_INDEX_INSERT = "INSERT OR IGNORE INTO event_sessions VALUES (?, ?, ?, ?)"
_SQLITE_INDEX_FROM_EVENTS = (
    "INSERT OR IGNORE INTO event_sessions (service, session_id, ts, id)"
    " SELECT service, session_id, ts, id FROM events"
    " WHERE rowid > ? AND rowid <= ? AND session_id IS NOT NULL ORDER BY 1, 2, 3, 4"
)
_PG_INDEX_INSERT = (
    "INSERT INTO event_sessions (service, session_id, ts, id) SELECT * FROM unnest("
    "%s::varchar[], %s::varchar[], %s::float8[], %s::varchar[]) ON CONFLICT DO NOTHING"
)

_SESSION_COLUMNS = (
    "service",
    "session_id",
    "user_id",
    "user_type",
    "channel",
    "started_at",
    "ended_at",
    "last_seen",
    "turns",
    "errors",
    "messages",
    "reconnects",
    "open_connections",
    "escalated_at",
    "rating_sum",
    "rating_n",
    "first_seen",
    "first_connect_at",
)
_SESSION_MERGE = {
    "user_id": "coalesce",
    "user_type": "coalesce",
    "channel": "coalesce",
    "started_at": "least",
    "ended_at": "greatest",
    "last_seen": "greatest",
    "escalated_at": "least",
    "first_seen": "keep",
    "first_connect_at": "least",
}


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int


@dataclass
class Prepared:
    """A validated batch made ready to write: its rows and rollup increments.

    Made without the database (on the request's own thread, so the one writer thread
    only writes); valid as long as every event in it turns out to be new, which
    :func:`write_prepared` checks. Writing consumes it (its session increments are
    merged in place): to write the same events again, prepare them again.
    """

    events: dict[str, Event] | None  # by id, first occurrence (None: parse ``body``)
    rows: dict[str, tuple[Any, ...]]
    delta: Delta
    size: int  # events in the batch as sent, repeats included
    min_ts: float  # the earliest event time (0.0 for an empty batch)
    store_text: bool = False
    body: bytes | None = None  # the JSON batch, when prepared in another process
    # the delta as the journal holds it (journal.encode), made by encode_delta
    encoded: bytes | None = None

    def encode_delta(self) -> None:
        """Encode the increments for the journal here, on the request's thread, so the
        one writer thread need not (it journals a group's batches as they are, when
        every event in them is new: :func:`write_prepared`)."""
        self.encoded = journal_encode(self.delta)

    def unique_events(self) -> dict[str, Event]:
        """The batch's events by id; prepared elsewhere, they are parsed again here (only
        for the rare write that meets stored ids or fails)."""
        if self.events is None:
            if self.body is None:
                raise ValueError("a prepared batch needs its events or its body")
            self.events = {}
            # as the worker read them: msgspec's Structs, or pydantic's models if it was unsure
            parsed: Sequence[Any] | None = decode_batch(self.body)
            for e in parse_events(self.body) if parsed is None else parsed:
                self.events.setdefault(e.id, e)
        return self.events

    def again(self) -> Prepared:
        """A fresh copy to write again (after a failed write consumed this one)."""
        fresh = prepare(list(self.unique_events().values()), store_text=self.store_text)
        fresh.size = self.size
        return fresh


def prepare(batch: Sequence[Event | FastEvent], *, store_text: bool) -> Prepared:
    """Rows and rollup increments of validated events: pydantic models or the msgspec
    Structs of the ingest hot path (chatwatch.events_fast), which give the same."""
    if _fast_rows is not None and batch and isinstance(batch[0], msgspec.Struct):
        done = _fast_rows(batch if isinstance(batch, list) else list(batch), store_text)
        if done is not None:  # the same as python_prepare gives (tests/store/test_fast_delta.py)
            unique, rows, min_ts = done
            delta = compute_delta(list(unique.values()))
            return Prepared(unique, rows, delta, len(batch), min_ts, store_text)
    return python_prepare(batch, store_text=store_text)


def python_prepare(batch: Sequence[Event | FastEvent], *, store_text: bool) -> Prepared:
    """:func:`prepare` in Python: the definition of the rows (the C code mirrors it)."""
    unique: dict[str, Any] = {}
    for e in batch:
        if e.id not in unique:
            unique[e.id] = e
    if batch and isinstance(batch[0], msgspec.Struct):
        rows = {key: _struct_row(e, store_text) for key, e in unique.items()}
    else:
        exclude = _COMMON if store_text else _COMMON | _TEXT
        rows = {key: _row(e, exclude) for key, e in unique.items()}
    min_ts = min((row[1] for row in rows.values()), default=0.0)
    delta = compute_delta(unique.values())
    return Prepared(unique, rows, delta, len(batch), min_ts, store_text)


def write_events(
    conn: Connection, batch: Sequence[Event], *, store_text: bool, guard: LabelGuard | None = None
) -> IngestResult:
    """Run inside a write transaction; the caller commits."""
    return write_prepared(conn, [prepare(batch, store_text=store_text)], guard=guard)[0]


def write_batches(
    conn: Connection, batches: Sequence[Sequence[Event]], *, store_text: bool
) -> list[IngestResult]:
    """Several batches in one transaction, with a result for each."""
    return write_prepared(conn, [prepare(b, store_text=store_text) for b in batches])


def write_prepared(
    conn: Connection,
    batches: Sequence[Prepared],
    *,
    defer: bool = False,
    journalled: list[tuple[int, Journalled]] | None = None,
    guard: LabelGuard | None = None,
) -> list[IngestResult]:
    """Several batches in one transaction (group commit), with a result for each.

    The same as writing them one after the other: an id is accepted for the first batch
    holding it and counts as a duplicate everywhere else, and session state is merged as
    the store's upsert would merge separate writes. Writing them together shares the
    rollup and session rows they have in common. With ``defer`` the rollup and session
    increments go to the journal (one row) instead, for :func:`fold_journal` to apply;
    the row's id and increments are added to ``journalled`` when it is given. A
    ``guard`` folds label values past their cap into ``other`` (store/labels.py).
    """
    rows: dict[str, tuple[Any, ...]] = {}
    for batch in batches:
        rows.update(batch.rows)
    repeated = len(rows) != sum(len(batch.rows) for batch in batches)
    if repeated:  # an id in two batches: it counts for the first, with that batch's row
        owner, rows = _first_owners(batches)
    inserted, stored = _insert_new(conn, rows)
    whole = not repeated and len(inserted) == len(rows)  # every id new, each in one batch
    if whole and defer and stored is not None:
        _journal_apart(conn, batches, stored, journalled, guard)
        return [IngestResult(len(b.rows), b.size - len(b.rows)) for b in batches]
    if whole:
        accepted = [len(batch.rows) for batch in batches]
    else:
        if not repeated:
            owner = {key: index for index, b in enumerate(batches) for key in b.rows}
        accepted = [0] * len(batches)
        for key in inserted:
            accepted[owner[key]] += 1
    total: Delta | None = None  # the first batch's delta, the others added to it
    for index, batch in enumerate(batches):
        if accepted[index] == 0:
            continue
        delta = batch.delta
        if accepted[index] != len(batch.rows):  # some were stored already: recount
            delta = compute_delta(
                e
                for key, e in batch.unique_events().items()
                if key in inserted and owner[key] == index
            )
        if total is None:
            total = delta
        else:
            total.merge(delta)
    if total is not None:
        if stored is not None:
            total.ranges = [stored]
        else:
            total.index = index_rows(rows, inserted)
    if total is not None and guard is not None:
        guard.fold(conn, total)
    if total is not None and defer:
        # each batch knows its earliest time; row by row only when some ids were not new
        if whole:
            min_ts = min(batch.min_ts for batch in batches if batch.rows)
        else:
            min_ts = min(rows[key][1] for key in inserted)
        journal_id = journal_append(conn, total, len(inserted), min_ts)
        if journalled is not None:
            journalled.append((journal_id, [total]))
    elif total is not None:
        apply_delta(conn, total)
    return [
        IngestResult(accepted=n, duplicates=batch.size - n)
        for n, batch in zip(accepted, batches, strict=True)
    ]


def _journal_apart(
    conn: Connection,
    batches: Sequence[Prepared],
    stored: tuple[int, int],
    journalled: list[tuple[int, Journalled]] | None,
    guard: LabelGuard | None,
) -> None:
    """Journal a group whose events were all new, on SQLite, as one row of its batches'
    increments each as encoded on its request's thread: no merge and no encoding on
    the writer thread (the fold merges them as it would have merged the group's). A
    batch whose labels the guard folds is encoded again."""
    kept = [batch for batch in batches if batch.rows]
    if not kept:
        return
    parts: list[bytes] = []
    for batch in kept:
        folded = guard is not None and guard.fold(conn, batch.delta)
        if folded or batch.encoded is None:
            batch.encode_delta()
        assert batch.encoded is not None
        parts.append(batch.encoded)
    events = sum(len(batch.rows) for batch in kept)
    min_ts = min(batch.min_ts for batch in kept)
    journal_id = journal_append_group(conn, parts, [stored], events, min_ts)
    if journalled is not None:
        deltas = [batch.delta for batch in kept]
        deltas[0].ranges = [stored]  # in memory, the group's range rides with its first batch
        journalled.append((journal_id, deltas))


def _first_owners(
    batches: Sequence[Prepared],
) -> tuple[dict[str, int], dict[str, tuple[Any, ...]]]:
    """Each id's first batch, and the rows in order with that batch's row of each id."""
    owner: dict[str, int] = {}
    rows: dict[str, tuple[Any, ...]] = {}
    for index, batch in enumerate(batches):
        for key, row in batch.rows.items():
            if key not in owner:
                owner[key] = index
                rows[key] = row
    return owner, rows


def index_rows(
    rows: dict[str, tuple[Any, ...]], inserted: set[str]
) -> list[tuple[str, str, float, str]]:
    """The event_sessions rows of the events inserted: taken from the stored rows, not
    the delta's labels (a service past its label cap is still the row's own)."""
    kept = rows.values() if len(inserted) == len(rows) else [rows[key] for key in inserted]
    return [(r[3], r[4], r[1], r[0]) for r in kept if r[4] is not None]


def apply_delta(conn: Connection, delta: Delta) -> None:
    """Add increments to the session and rollup rows (sessions first: they count the
    sessions escalating or reconnecting for the first time), and the events to the
    session index."""
    _apply_sessions(conn, delta)
    _apply_rollups(conn, delta)
    _apply_index(conn, delta)


def _apply_index(conn: Connection, delta: Delta) -> None:
    """Add the delta's events to event_sessions in key order, so each page of it is
    written once per fold: on SQLite straight from the events' rowid ranges (no row
    crosses into Python), on PostgreSQL from the rows the delta carries. A row there
    already is left alone."""
    if delta.ranges:
        _copy_index(conn.connection.dbapi_connection, delta.ranges)
    index = delta.index
    if not index:
        return
    index.sort()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_PG_INDEX_INSERT, tuple(map(list, zip(*index, strict=True))))
    else:
        execute_many(conn, _SQLITE_INDEX_INSERT, index)


def _copy_index(dbapi: Any, ranges: list[tuple[int, int]]) -> None:
    """event_sessions from the events in the rowid ranges, on the transaction's DB-API
    connection; its error as SQLAlchemy names it (``journal.unavailable`` reads that)."""
    for lo, hi in merge_ranges(ranges):
        try:
            dbapi.execute(_SQLITE_INDEX_FROM_EVENTS, (lo, hi)).close()
        except sqlite3.Error as exc:
            raise DBAPIError.instance(
                _SQLITE_INDEX_FROM_EVENTS, None, exc, sqlite3.Error, hide_parameters=True
            ) from exc


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Half-open ``(lo, hi]`` ranges joined where they meet or overlap."""
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1]:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


def fold_journal(
    conn: Connection, known: Mapping[int, Journalled] | None = None
) -> tuple[list[int], float] | None:
    """Apply and empty the rollup journal: (journal ids folded, earliest event time), or
    None when it was empty. Run inside a write transaction; ``known``: see journal.take."""
    taken = journal_take_parts(conn, known)
    if taken is None:
        return None
    parts, ids, min_ts = taken
    ranges = [r for part in parts for r in part.ranges]  # SQLite's only
    if len(parts) < 2 or not ranges:
        apply_delta(conn, merge_parts(parts))
        return ids, min_ts
    # The session-index copy is SQLite's work alone, with the interpreter released, and
    # needs no increment: a thread runs it on this transaction's connection while this
    # one merges the rows' increments (Python), which touches no connection.
    copy = _IndexCopy(conn.connection.dbapi_connection, ranges)
    copy.start()
    try:
        delta = merge_parts(parts)
    finally:
        copy.join()
    delta.ranges = []  # copied
    apply_delta(conn, delta)
    return ids, min_ts


class _IndexCopy(threading.Thread):
    """The event_sessions rows of the events' rowid ranges, copied on a DB-API
    connection that nothing else uses until :meth:`join`; its error is raised there."""

    def __init__(self, dbapi: Any, ranges: list[tuple[int, int]]) -> None:
        super().__init__(name="chatwatch-fold-index", daemon=True)
        self.dbapi = dbapi
        self.ranges = ranges
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            _copy_index(self.dbapi, self.ranges)
        except BaseException as exc:  # handed to the folding thread
            self.error = exc

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.error is not None:
            raise self.error


def _row(e: Event, exclude: set[str]) -> tuple[Any, ...]:
    # fields read from __dict__ and the type by its tag: isinstance on a pydantic model
    # class and attribute lookups cost a third of this function
    d = e.__dict__
    data = e.model_dump_json(exclude=exclude, exclude_none=True)
    if d["type"] == "llm_call" and d["cost_usd"] is None:
        cost = priced_cost(e)  # type: ignore[arg-type]
        if cost is not None:
            data = f'{data[:-1]},"cost_usd":{cost!r}}}'
    return (
        d["id"],
        d["ts"],
        d["type"],
        d["service"],
        d["session_id"],
        d.get("run_id"),
        d["user_id"],
        data,
    )


_DATA_FIELDS: dict[tuple[type, bool], tuple[str, ...]] = {}
_ENCODE = msgspec.json.Encoder().encode


def _struct_row(e: Any, store_text: bool) -> tuple[Any, ...]:
    """The row of a msgspec event: as :func:`_row` makes it of the pydantic model (the
    data column holds the same JSON object: fields in order, None left out)."""
    kind = type(e)
    names = _DATA_FIELDS.get((kind, store_text))
    if names is None:
        exclude = _COMMON if store_text else _COMMON | _TEXT
        names = tuple(f for f in kind.__struct_fields__ if f not in exclude)
        _DATA_FIELDS[(kind, store_text)] = names
    data = {}
    for name in names:
        value = getattr(e, name)
        if value is not None:
            data[name] = value
    if kind is FastLLMCall and e.cost_usd is None:
        cost = priced_cost(e)
        if cost is not None:
            data["cost_usd"] = cost
    return (
        e.id,
        e.ts,
        kind.type,
        e.service,
        e.session_id,
        getattr(e, "run_id", None),
        e.user_id,
        _ENCODE(data).decode(),
    )


def _setup_fast_rows() -> Callable[[list[Any], bool], Any] | None:
    """The compiled rows (chatwatch/store/_delta.c) with this module's data fields."""
    core = rollup_core()
    if core is None:
        return None
    from chatwatch import events_fast

    fields = {}
    for kind in events_fast.FastEvent.__args__:
        names = kind.__struct_fields__
        fields[kind.type] = (
            tuple(f for f in names if f not in _COMMON | _TEXT),
            tuple(f for f in names if f not in _COMMON),
        )
    core.setup_rows(fields, _ENCODE)
    rows: Callable[[list[Any], bool], Any] = core.rows
    return rows


_fast_rows = _setup_fast_rows()


def _insert_new(
    conn: Connection, rows: dict[str, tuple[Any, ...]]
) -> tuple[set[str], tuple[int, int] | None]:
    """Insert the rows whose id is not stored yet; returns the ids inserted and, on
    SQLite, the ``(lo, hi]`` range of rowids they were given."""
    if not rows:
        return set(), None
    if conn.dialect.name == "postgresql":
        # one statement over column arrays (not a statement per row); in id order, so
        # writers inserting the same ids at once wait for each other, never deadlock
        columns = [list(c) for c in zip(*sorted(rows.values()), strict=True)]
        found = conn.exec_driver_sql(_PG_INSERT, tuple(columns))
        return set(found.scalars()), None
    return _insert_new_sqlite(conn, rows)


def _insert_new_sqlite(
    conn: Connection, rows: dict[str, tuple[Any, ...]]
) -> tuple[set[str], tuple[int, int]]:
    """``INSERT OR IGNORE``, then find what was new without a lookup per id.

    The store holds SQLite's only write transaction, so the rows inserted are exactly those
    with a rowid above the largest one before; usually all are new, which the change
    count tells at once.
    """
    dbapi: Any = conn.connection.dbapi_connection
    before = conn.exec_driver_sql("SELECT max(rowid) FROM events").scalar() or 0
    before_changes = dbapi.total_changes
    # as they came: the SDK's ids are time-ordered, so the key's index grows at its end
    sql = _insert_sql("sqlite", "events", _EVENT_COLUMNS, "", "OR IGNORE ")
    execute_many(conn, sql, list(rows.values()))
    if dbapi.total_changes - before_changes == len(rows):
        return set(rows), (before, before + len(rows))
    found = conn.exec_driver_sql("SELECT rowid, id FROM events WHERE rowid > ?", (before,)).all()
    return {str(row[1]) for row in found}, (
        before,
        max((int(row[0]) for row in found), default=before),
    )


@cache
def _insert_sql(
    dialect: str, table: str, columns: tuple[str, ...], upsert: str = "", verb: str = ""
) -> str:
    mark = "?" if dialect == "sqlite" else "%s"
    values = ", ".join([mark] * len(columns))
    sql = f"INSERT {verb}INTO {table} ({', '.join(columns)}) VALUES ({values})"
    return f"{sql} {upsert}" if upsert else sql


@cache
def _upsert_sql(dialect: str, table: str, key: tuple[str, ...], sums: tuple[str, ...]) -> str:
    """Insert, or add the new row's ``sums`` columns to the stored row's."""
    adds = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in sums)
    upsert = f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {adds}"
    return _insert_sql(dialect, table, key + sums, upsert)


def _apply_rollups(conn: Connection, delta: Delta) -> None:
    counts, hist = delta.folded()
    dialect = conn.dialect.name
    # PostgreSQL writers run concurrently: rows locked in one order cannot deadlock.
    # SQLite has one writer, so the sort would only cost time.
    order: Callable[[Iterable[Any]], Iterable[Any]] = sorted if dialect != "sqlite" else iter
    execute_many(
        conn,
        _upsert_sql(dialect, "rollups", ROLLUP_KEY, ("n", "total")),
        [(*key, cell[0], cell[1]) for key, cell in order(counts.items())],
    )
    execute_many(
        conn,
        _upsert_sql(dialect, "rollup_hist", HIST_KEY, ("n",)),
        [(*key, n) for key, n in order(hist.items())],
    )
    execute_many(
        conn,
        _upsert_sql(dialect, "user_activity", ("day", "service", "user_id"), ("messages",)),
        [(*key, n) for key, n in order(delta.users.items())],
    )
    execute_many(
        conn,
        _upsert_sql(
            dialect, "user_usage", ("hour", "service", "user_id"), ("calls", "tokens", "cost_usd")
        ),
        [(*key, int(c[0]), int(c[1]), c[2]) for key, c in order(delta.usage.items())],
    )


def _apply_sessions(conn: Connection, delta: Delta) -> None:
    """Upsert per-session state, and count sessions starting, escalating or reconnecting
    for the first time now: a session starts with its first event of any type (an
    explicit ``session_started`` after it counts nothing), and of a session's ``connect``
    events, from whichever process and in whatever order they arrive, only the earliest
    counts as a connect, every other one as a reconnect."""
    if not delta.sessions:
        return
    keys = sorted(delta.sessions)
    known = _stored_sessions(conn, keys)
    for key in keys:
        s = delta.sessions[key]
        stored = known.get(key)
        escalated_before, reconnects_before, user_type, channel, first_connect = stored or (
            None,
            0,
            None,
            None,
            None,
        )
        # labelled like the session's stored row (the upsert keeps the first values seen)
        labels = (user_type or s.user_type or "", channel or s.channel or "")
        if stored is None:
            begun = min(t for t in (s.started_at, s.first_seen, s.last_seen) if t is not None)
            s.started_at = begun
            _count_session(delta, s, "sessions_started", begun, labels)
        if s.connects:
            _connects_to_reconnects(delta, s, first_connect, labels)
        if s.escalated_at is not None and escalated_before is None:
            _count_session(delta, s, "sessions_escalated", s.escalated_at, labels)
        if s.first_reconnect is not None and not reconnects_before:
            _count_session(delta, s, "sessions_reconnected", s.first_reconnect, labels)
    execute_many(
        conn,
        _session_upsert_sql(conn.dialect.name),
        [_session_row(delta.sessions[key]) for key in keys],
    )


_KNOWN_CHUNK = 400  # sessions looked up per statement


def _stored_sessions(
    conn: Connection, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[Any, ...]]:
    """What the fold needs of the sessions already stored, by (service, session_id):
    plain SQL written once per chunk size (SQLAlchemy built the ``IN`` of 400 pairs
    anew at every fold, a third of the fold's time). The keys are joined to the primary
    key: SQLite scans the whole table for a row value ``IN (VALUES …)``, which made the
    fold's cost grow with the sessions stored (5 ms a chunk at 50 000 sessions)."""
    known: dict[tuple[str, str], tuple[Any, ...]] = {}
    dialect = conn.dialect.name
    for start in range(0, len(keys), _KNOWN_CHUNK):
        chunk = keys[start : start + _KNOWN_CHUNK]
        params = [part for key in chunk for part in key]
        for row in conn.exec_driver_sql(_stored_sessions_sql(dialect, len(chunk)), tuple(params)):
            known[(row[0], row[1])] = tuple(row[2:])
    return known


@cache
def _stored_sessions_sql(dialect: str, n: int) -> str:
    mark = "?" if dialect == "sqlite" else "%s"
    pairs = ", ".join([f"({mark}, {mark})"] * n)
    return (
        "SELECT s.service, s.session_id, s.escalated_at, s.reconnects, s.user_type, "
        f"s.channel, s.first_connect_at FROM (VALUES {pairs}) AS v "
        "JOIN sessions AS s ON s.service = v.column1 AND s.session_id = v.column2"
    )


def _connects_to_reconnects(
    delta: Delta, s: SessionDelta, stored_first: float | None, labels: tuple[str, str]
) -> None:
    """Relabel as reconnects the session's connects but its earliest one (the one stored
    as first too, when one in this batch turns out earlier)."""
    first = min(ts for ts, _, _ in s.connects)
    if stored_first is not None and stored_first <= first:
        first = stored_first
    elif stored_first is not None:
        _relabel(delta, s, stored_first, labels)
    for ts, user_type, channel in s.connects:
        if ts != first or stored_first == first:
            _relabel(delta, s, ts, (user_type, channel))
    s.first_connect_at = first
    s.connects = ()


def _relabel(delta: Delta, s: SessionDelta, ts: float, labels: tuple[str, str]) -> None:
    minute = int(ts // MINUTE) * MINUTE
    _add_count(delta, (minute, s.service, "connections", "", "connect", *labels), -1)
    _add_count(delta, (minute, s.service, "connections", "", "reconnect", *labels))
    s.reconnects += 1
    if s.first_reconnect is None or ts < s.first_reconnect:
        s.first_reconnect = ts


def _add_count(delta: Delta, key: tuple[int, str, str, str, str, str, str], n: int = 1) -> None:
    cell = delta.counts.get(key)
    if cell is None:
        delta.counts[key] = [n, 0.0]
    else:
        cell[0] += n


@cache
def _session_upsert_sql(dialect: str) -> str:
    least, greatest = ("least", "greatest") if dialect == "postgresql" else ("min", "max")
    merge = []
    for column in _SESSION_COLUMNS[2:]:
        old, new = f"sessions.{column}", f"excluded.{column}"
        how = _SESSION_MERGE.get(column, "add")
        if how == "keep":
            continue
        if how == "coalesce":
            merge.append(f"{column} = coalesce({old}, {new})")
        elif how == "add":
            merge.append(f"{column} = {old} + {new}")
        else:
            fn = least if how == "least" else greatest
            pair = f"coalesce({old}, {new}), coalesce({new}, {old})"
            merge.append(f"{column} = {fn}({pair})")
    upsert = f"ON CONFLICT (service, session_id) DO UPDATE SET {', '.join(merge)}"
    return _insert_sql(dialect, "sessions", _SESSION_COLUMNS, upsert)


def _count_session(
    delta: Delta, s: SessionDelta, series: str, ts: float, labels: tuple[str, str]
) -> None:
    _add_count(delta, (int(ts // MINUTE) * MINUTE, s.service, series, "", "", *labels))


def _session_row(s: SessionDelta) -> tuple[Any, ...]:
    return (
        s.service,
        s.session_id,
        s.user_id,
        s.user_type,
        s.channel,
        s.started_at,
        s.ended_at,
        s.last_seen,
        s.turns,
        s.errors,
        s.messages,
        s.reconnects,
        s.open_connections,
        s.escalated_at,
        s.rating_sum,
        s.rating_n,
        s.last_seen if s.started_at is None else min(s.started_at, s.last_seen),
        s.first_connect_at,
    )
