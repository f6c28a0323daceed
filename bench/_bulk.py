"""A fast bulk loader for benchmarks: millions of realistic chat events, written with
their rollups and session rows straight into a store.

Sessions are generated like the demo's traffic (three models at 60/30/10 %, RAG, cache
hits, errors, ratings, escalations, reconnects). Their rollups are computed by the
store's own ingest code (``compute_delta``, the writer's upserts), so they are exactly
what real ingest would have made. To reach 10 M events in minutes, not hours, two days of
sessions are generated and replayed day after day (new ids, times shifted by whole days,
so every rollup key shifts with them); the last 24 hours are generated fresh and end at
``now`` with sessions still open. Raw rows go in with plain ``executemany`` (ids are
unique and time-ordered, so there is no duplicate check). Per-minute rollups older than
the minute retention are left out, as maintenance would have deleted them.

    from _bulk import fill
    fill("sqlite:///big.db", 1_000_000, days=30, seed=0)
"""

from __future__ import annotations

import math
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from chatwatch.events import (
    CacheLookup,
    Connection,
    Escalation,
    Feedback,
    LLMCall,
    RAGSearch,
    SessionEnded,
    SessionStarted,
    Turn,
)
from chatwatch.pricing import cost_usd
from chatwatch.store import Store
from chatwatch.store.bulk import execute_many
from chatwatch.store.rollup import MINUTE, SessionDelta, compute_delta
from chatwatch.store.schema import HIST_KEY, ROLLUP_KEY
from chatwatch.store.writer import (
    _count_session,
    _insert_sql,
    _session_row,
    _session_upsert_sql,
    _upsert_sql,
)

__all__ = ["EVENTS_PER_SESSION", "fill", "index_sessions"]

SERVICES = (("assistant", 0.75), ("support", 0.25))
MODELS = (  # guide 003's mix: name, share, median latency ms
    ("llama-3.1-8b-instant", 0.6, 580.0),
    ("llama-3.3-70b-versatile", 0.3, 1270.0),
    ("glm-4-plus", 0.1, 1000.0),
)
TOPICS = ("billing", "shipping", "returns", "account", "product", "pricing", "bug", "other")
ERRORS = ("Timeout", "RateLimitError", "APIError")
EVENTS_PER_SESSION = 14.83  # measured mean of the generator below, to size the run
_COLUMNS = ("id", "ts", "type", "service", "session_id", "run_id", "user_id", "data")
_BATCH = 50_000


class _Ts(float):
    """A timestamp that answers ``timestamp()`` like the datetime of an event does."""

    def timestamp(self) -> float:
        return float(self)


class _Record(SimpleNamespace):
    """An event as the rollup code reads it: attributes only, no validation or copying
    (``model_construct`` deep-copies defaults, four times the cost of the rest)."""


def _defaults(cls: Any) -> dict[str, Any]:
    fields = cls.model_fields
    return {
        name: f.default
        for name, f in fields.items()
        if name not in _COMMON_FIELDS and not f.is_required()
    }


_COMMON_FIELDS = {"id", "ts", "service", "session_id", "user_id", "user_type", "attributes"}
_DEFAULTS = {
    cls: _defaults(cls)
    for cls in (
        CacheLookup, Connection, Escalation, Feedback, LLMCall, RAGSearch, SessionEnded,
        SessionStarted, Turn,
    )
}  # fmt: skip


def _weighted(rng: random.Random, pairs: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
    x = rng.random()
    for pair in pairs:
        x -= pair[1]
        if x <= 0:
            return pair
    return pairs[-1]


class _Session:
    """Builds one session's events and their raw rows."""

    def __init__(self, rng: random.Random, index: int, start: float, now: float) -> None:
        self.rng, self.now, self.clock = rng, now, start
        self.sid = f"s{index:09d}"
        self.service = _weighted(rng, SERVICES)[0]
        user = rng.randrange(20_000)
        self.user_id = f"user-{user}"
        self.user_type = ("free", "free", "free", "premium", "premium", None)[user % 6]
        self.prefix = f"b{int(start * 1000):013x}{index % 4096:03x}"
        self.events: list[Any] = []
        self.rows: list[tuple[Any, ...]] = []

    def add(self, cls: Any, data: str, run_id: str | None = None, **fields: Any) -> None:
        ts = self.clock
        if ts >= self.now:
            return
        n = len(self.events)
        eid = f"{self.prefix}{n:03x}"
        common = {
            "id": eid,
            "ts": _Ts(ts),
            "service": self.service,
            "session_id": self.sid,
            "user_id": self.user_id,
            "user_type": self.user_type,
        }
        if run_id is not None:
            fields["run_id"] = run_id
        event = _Record(**{**_DEFAULTS[cls], **common, **fields})
        self.events.append(event)
        ut = f'"user_type":"{self.user_type}",' if self.user_type else ""
        self.rows.append(
            (eid, ts, event.type, self.service, self.sid, run_id, self.user_id, f"{{{ut}{data}}}")
        )
        self.clock += self.rng.expovariate(1 / 20.0)

    def build(self) -> tuple[list[Any], list[tuple[Any, ...]]]:
        rng = self.rng
        channel = "websocket" if rng.random() < 0.85 else "http"
        self.add(SessionStarted, f'"channel":"{channel}"', type="session_started", channel=channel)
        if channel == "websocket":
            self.add(Connection, '"action":"connect"', type="connection", action="connect")
        for turn in range(max(1, int(rng.expovariate(1 / 4.0)))):
            self.turn(f"{self.sid}-{turn}")
            if channel == "websocket" and rng.random() < 0.02:
                self.add(Connection, '"action":"reconnect"', type="connection", action="reconnect")
        if rng.random() < 0.3:
            rating = rng.choice((5, 5, 4, 4, 4, 3, 2, 1))
            self.add(Feedback, f'"rating":{rating}', type="feedback", rating=rating)
        if rng.random() < 0.04:
            self.add(Escalation, '"reason":"human"', type="escalation", reason="human")
        if channel == "websocket":
            self.add(Connection, '"action":"disconnect"', type="connection", action="disconnect")
        self.add(SessionEnded, '"reason":"closed"', type="session_ended", reason="closed")
        return self.events, self.rows

    def turn(self, run: str) -> None:
        rng = self.rng
        model, _, median = _weighted(rng, MODELS)
        cached = rng.random() < 0.33
        if rng.random() < 0.5:
            self.add(
                CacheLookup, f'"hit":{str(cached).lower()},"kind":"response"', run,
                type="cache_lookup", hit=cached, kind="response",
            )  # fmt: skip
        rag = rng.random() < 0.7
        found = rag and rng.random() < 0.9
        if rag:
            sim = round(min(max(rng.gauss(0.65, 0.1), 0.0), 1.0), 3) if found else None
            took = round(rng.lognormvariate(3.5, 0.5), 2)
            results = rng.randint(1, 8) if found else 0
            sim_json = f'"similarity":{sim},' if sim is not None else ""
            self.add(
                RAGSearch, f'{sim_json}"results":{results},"search_time_ms":{took}', run,
                type="rag_search", similarity=sim, results=results, search_time_ms=took,
            )  # fmt: skip
        latency = 0.0
        if not cached:
            latency = round(rng.lognormvariate(math.log(median), 0.5), 2)
            tin, tout = rng.randint(200, 2500), rng.randint(20, 700)
            ok = rng.random() < 0.98
            cost = cost_usd(model, tin, tout)  # stored in the row, as ingest does
            self.add(
                LLMCall,
                f'"model":"{model}","input_tokens":{tin},"output_tokens":{tout},'
                f'"latency_ms":{latency},"success":{str(ok).lower()},"cost_usd":{cost!r}',
                run, type="llm_call", model=model, input_tokens=tin, output_tokens=tout,
                latency_ms=latency, success=ok, error_type=None if ok else "APIError",
            )  # fmt: skip
        rt = round(latency + rng.lognormvariate(4.5, 0.6), 2) if not cached else 35.0
        ok = rng.random() < 0.97
        error = None if ok else rng.choice(ERRORS)
        topic = rng.choice(TOPICS)
        err_json = f',"error_type":"{error}"' if error else ""
        self.add(
            Turn,
            f'"response_time_ms":{rt},"success":{str(ok).lower()}{err_json},'
            f'"cached":{str(cached).lower()},"topic":"{topic}","model":"{model}",'
            f'"rag_used":{str(rag).lower()},"rag_found":{str(found).lower()}',
            run, type="turn", response_time_ms=rt, success=ok, error_type=error,
            cached=cached, topic=topic, model=model, rag_used=rag, rag_found=found,
            tokens=None, sender_type="user",
        )  # fmt: skip


def _sessions(
    rng: random.Random, count: int, start: float, span: float, now: float, first: int
) -> Iterator[_Session]:
    """``count`` sessions in start order, spread evenly over ``span`` seconds."""
    step = span / max(count, 1)
    for index in range(count):
        yield _Session(rng, first + index, start + index * step + rng.random() * step, now)


@dataclass
class _Day:
    """One generated day: raw rows and what ingest would add to the other tables."""

    rows: list[tuple[Any, ...]]
    counts: dict[tuple[Any, ...], list[float]]
    hist: dict[tuple[Any, ...], int]
    users: dict[tuple[int, str, str], int]
    sessions: list[SessionDelta]


def _generate(rng: random.Random, per_day: float, start: float, now: float, first: int) -> _Day:
    count = max(1, round(per_day / EVENTS_PER_SESSION))
    records: list[Any] = []
    rows: list[tuple[Any, ...]] = []
    for session in _sessions(rng, count, start, 86400.0, now, first):
        session_records, session_rows = session.build()
        records.extend(session_records)
        rows.extend(session_rows)
    delta = compute_delta(records)
    for s in delta.sessions.values():  # all new: what the writer counts on first sight
        labels = (s.user_type or "", s.channel or "")
        s.started_at = min(t for t in (s.started_at, s.first_seen, s.last_seen) if t is not None)
        _count_session(delta, s, "sessions_started", s.started_at, labels)
        s.connects = []  # one connect per generated session: none is a reconnect
        if s.escalated_at is not None:
            _count_session(delta, s, "sessions_escalated", s.escalated_at, labels)
        if s.first_reconnect is not None:
            _count_session(delta, s, "sessions_reconnected", s.first_reconnect, labels)
    counts, hist = delta.folded()
    return _Day(rows, counts, hist, delta.users, list(delta.sessions.values()))


def fill(
    db_url: str,
    n_events: int,
    days: int = 30,
    seed: int = 0,
    *,
    now: float | None = None,
    minute_retention_days: int = 7,
    progress: bool = True,
) -> dict[str, float]:
    """Load about ``n_events`` events over the last ``days`` days, ending at ``now``;
    returns counts and timings. The store must be empty."""
    now = time.time() if now is None else now
    days = max(days, 1)
    store = Store(db_url, minute_retention_s=minute_retention_days * 86400)
    cutoff = store.minute_cutoff(now)
    rng = random.Random(seed)
    per_day = n_events / days
    base = now - days * 86400.0
    started = time.perf_counter()
    written = 0
    stride = round(per_day / EVENTS_PER_SESSION) + 1
    with _bar(progress, n_events) as advance:
        templates = [
            _generate(rng, per_day, base, now, t * stride) for t in range(min(2, days - 1))
        ]
        for k in range(days - 1):
            written += _write_copy(store, templates[k % len(templates)], k, cutoff, advance)
        last = _generate(rng, per_day, now - 86400.0, now, 2 * stride)
        written += _write_copy(store, last, 0, cutoff, advance, copy_id=days)
        index_sessions(store)
        _close_raw(store)
    seconds = time.perf_counter() - started
    store.close()
    return {"events": written, "seconds": seconds, "events_per_s": written / seconds}


def _write_copy(
    store: Store,
    day: _Day,
    k: int,
    cutoff: int,
    advance: Callable[[int], None],
    copy_id: int | None = None,
) -> int:
    """Write ``day`` shifted by ``k`` whole days, with ids and session ids made unique."""
    shift = k * 86400
    tag = f"{copy_id if copy_id is not None else k:03d}"
    dialect = store.dialect
    sink = _Sink(store)
    counts = [
        (res, bucket + shift, *rest, cell[0], cell[1])
        for (res, bucket, *rest), cell in day.counts.items()
        if res != MINUTE or bucket + shift >= cutoff
    ]
    hist = [
        (res, bucket + shift, *rest, n)
        for (res, bucket, *rest), n in day.hist.items()
        if res != MINUTE or bucket + shift >= cutoff
    ]
    users = [(d + shift, svc, user, n) for (d, svc, user), n in day.users.items()]
    sessions = [_session_row(_shifted(s, shift, tag)) for s in day.sessions]
    events_sql = _insert_sql(dialect, "events", _COLUMNS)
    for lo in range(0, len(day.rows), _BATCH):
        chunk = [
            (
                f"c{tag}{eid}",
                ts + shift,
                kind,
                svc,
                f"{sid}.{tag}",
                run and f"{run}.{tag}",
                user,
                data,
            )
            for eid, ts, kind, svc, sid, run, user, data in day.rows[lo : lo + _BATCH]
        ]
        sink.run([(events_sql, chunk)])
        advance(len(chunk))
    users_sql = _upsert_sql(dialect, "user_activity", ("day", "service", "user_id"), ("messages",))
    sink.run(
        [
            (_upsert_sql(dialect, "rollups", ROLLUP_KEY, ("n", "total")), counts),
            (_upsert_sql(dialect, "rollup_hist", HIST_KEY, ("n",)), hist),
            (users_sql, users),
            (_session_upsert_sql(dialect), sessions),
        ]
    )
    return len(day.rows)


class _Sink:
    """Runs batches of ``executemany`` in one transaction each. On SQLite, through one raw
    connection with the journal and fsyncs off and a large cache (a bulk load that fails
    is simply run again); elsewhere through the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.raw: sqlite3.Connection | None = None
        if store.dialect == "sqlite":
            self.raw = _raw_sqlite(store)

    def run(self, work: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
        if self.raw is not None:
            with self.raw:
                for sql, rows in work:
                    if rows:
                        self.raw.executemany(sql, rows)
            return
        with self.store.write() as conn:
            for sql, rows in work:
                execute_many(conn, sql, list(rows))


_RAW: dict[int, sqlite3.Connection] = {}


def _raw_sqlite(store: Store) -> sqlite3.Connection:
    found = _RAW.get(id(store))
    if found is None:
        path = store.engine.url.database
        store.engine.dispose()  # changing the journal mode needs the only connection
        found = sqlite3.connect(str(path), isolation_level="DEFERRED")
        for pragma in (
            "journal_mode=OFF",
            "synchronous=OFF",
            "cache_size=-1000000",
            "temp_store=MEMORY",
        ):
            found.execute(f"PRAGMA {pragma}")
        _RAW[id(store)] = found
    return found


# The session index (migration 0012) that the store's journal fold fills as events arrive:
# written here in one statement, in key order, after the events.
_INDEX_SESSIONS = """INSERT INTO event_sessions (service, session_id, ts, id)
SELECT service, session_id, ts, id FROM events WHERE session_id IS NOT NULL
ORDER BY service, session_id, ts, id"""


def index_sessions(store: Store) -> None:
    raw = _RAW.get(id(store))
    if raw is not None:
        with raw:
            raw.execute(_INDEX_SESSIONS)
        return
    with store.write() as conn:
        conn.exec_driver_sql(_INDEX_SESSIONS)


def _close_raw(store: Store) -> None:
    raw = _RAW.pop(id(store), None)
    if raw is not None:
        raw.execute("PRAGMA journal_mode=WAL")
        raw.close()


def _shifted(s: SessionDelta, shift: int, tag: str) -> SessionDelta:
    def move(ts: float | None) -> float | None:
        return None if ts is None else ts + shift

    return replace(
        s,
        session_id=f"{s.session_id}.{tag}",
        started_at=move(s.started_at),
        ended_at=move(s.ended_at),
        last_seen=s.last_seen + shift,
        escalated_at=move(s.escalated_at),
        first_reconnect=move(s.first_reconnect),
    )


class _bar:
    """A rich progress bar over events written (or nothing when quiet)."""

    def __init__(self, show: bool, total: int) -> None:
        self.show, self.total = show, total
        self.progress: Progress | None = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.show:
            return lambda n: None
        self.progress = Progress(
            TextColumn("loading events"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
        )
        self.progress.start()
        task = self.progress.add_task("load", total=self.total, rate="")
        begun = time.perf_counter()
        done = [0]

        def advance(n: int) -> None:
            assert self.progress is not None
            done[0] += n
            rate = done[0] / max(time.perf_counter() - begun, 1e-9)
            self.progress.update(task, advance=n, rate=f"{rate:,.0f} ev/s")

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()
