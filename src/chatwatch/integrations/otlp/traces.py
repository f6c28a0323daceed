"""Traces → events, across exports: model calls, searches, and one turn per trace.

Spans of one trace can come in several exports and in any order, so the spans that matter
(roots, calls, searches, spans with a session or user) are kept in ``otlp_spans`` and a
trace is mapped from what is kept, never from one export alone:

- a trace is assembled ``settle_s`` after its root span arrived (stragglers from other
  services' exporters come meanwhile), or, when no root comes, ``wait_s`` after its first
  waiting span: its calls and searches are then stored without a turn;
- assembling stores every call and search with the trace's session and user (the root's,
  else the first by start time of the spans that have one), a call seen twice (two
  instrumentations, see dedup.py) once, and, when the trace holds a call or a search, its
  turn: run id = trace id, response time = the root's duration, failed when the root's
  status is ERROR or its HTTP status is 5xx;
- a span arriving after its trace was assembled is stored at once, with what the trace
  knows; it changes neither the turn nor the session (but the first call or search to
  come for a root assembled without any still makes the trace's turn).

Event ids come from trace and span ids, and a kept span is never kept twice, so a retried
export changes nothing. Hence: whatever the order and split of the exports, the events are
the same as long as a trace's spans arrive by ``settle_s`` after its root. Each export and
each flush is one write transaction (PostgreSQL: under one advisory lock, so two replicas
never assemble one trace at once).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError
from sqlalchemy import Connection, and_, bindparam, delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from chatwatch.events import DAY_MS, LLMCall, RAGSearch, Turn
from chatwatch.integrations.otlp.classify import Kept
from chatwatch.integrations.otlp.dedup import CallSpan, duplicate_groups
from chatwatch.store import Store
from chatwatch.store.schema import otlp_spans
from chatwatch.store.writer import write_events

__all__ = ["TraceSettings", "flush_pending", "has_kept_spans", "store_kept"]

log = logging.getLogger("chatwatch.server")
_LOCK_KEY = 0x6F746C70  # "otlp"
_CHUNK = 500
_EMPTY = "empty"  # a root assembled before any call or search of its trace came
_span_event: TypeAdapter[LLMCall | RAGSearch] = TypeAdapter(
    Annotated[LLMCall | RAGSearch, Field(discriminator="type")]
)
Event = LLMCall | RAGSearch | Turn


@dataclass(frozen=True)
class TraceSettings:
    settle_s: float = 10.0  # after the root arrives, before the trace is assembled
    wait_s: float = 60.0  # how long calls wait for a root that does not come
    keep_s: float = 3600.0  # how long spans are kept for later spans of their trace


def store_kept(store: Store, kept: Sequence[Kept], now: float, ts: TraceSettings) -> int:
    """Keep the spans, store every event now due; returns the events stored."""
    with _write(store) as conn:
        _lock(conn)
        _insert(conn, kept, now)
        events = _assemble(conn, {k.trace_id for k in kept}, now, ts, late_only=True)
        events += _due(conn, now, ts)
        stored = _store_events(store, conn, events)
    _invalidate(store, events)
    return stored


def flush_pending(store: Store, now: float, ts: TraceSettings) -> int:
    """Store the calls of traces whose root did not come in time; prune old spans."""
    with _write(store) as conn:
        _lock(conn)
        events = _due(conn, now, ts)
        stored = _store_events(store, conn, events)
    _invalidate(store, events)
    return stored


def has_kept_spans(store: Store) -> bool:
    with store.read() as conn:
        return conn.execute(select(otlp_spans.c.trace_id).limit(1)).first() is not None


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


@contextmanager
def _write(store: Store) -> Iterator[Connection]:
    """A write transaction that may admit label values: rolled back, the guard forgets them."""
    try:
        with store.write() as conn:
            yield conn
    except BaseException:
        store.labels.forget()
        raise


def _store_events(store: Store, conn: Connection, events: list[Event]) -> int:
    """The events, with label values past their caps folded into ``other`` like any."""
    if not events:
        return 0
    return write_events(conn, events, store_text=store.store_text, guard=store.labels).accepted


def _invalidate(store: Store, events: Sequence[Event]) -> None:
    if events and store.cache.enabled:
        store.cache.invalidate(min(e.ts for e in events))


def _due(conn: Connection, now: float, ts: TraceSettings) -> list[Event]:
    """Assemble the traces whose root settled or whose spans waited long enough."""
    c = otlp_spans.c
    waited = select(c.trace_id).where(and_(c.emitted.is_(False), c.seen_at <= now - ts.wait_s))
    settled = select(c.trace_id).where(
        and_(c.turn_emitted.is_(False), c.seen_at <= now - ts.settle_s)
    )
    traces = {row[0] for row in conn.execute(waited.distinct())}
    traces |= {row[0] for row in conn.execute(settled.distinct())}
    events = _assemble(conn, traces, now, ts, late_only=False)
    conn.execute(delete(otlp_spans).where(c.seen_at < now - ts.keep_s))
    return events


def _insert(conn: Connection, kept: Sequence[Kept], now: float) -> None:
    if not kept:
        return
    rows = [
        {
            "trace_id": k.trace_id,
            "span_id": k.span_id,
            "parent_id": k.parent_id,
            "root": k.root is not None,
            "role": k.role,
            "model": k.model,
            "start_ns": k.start_ns,
            "end_ns": k.end_ns,
            "session_id": k.session_id,
            "user_id": k.user_id,
            "event": k.event.model_dump_json(exclude_defaults=True) if k.event else None,
            "root_info": json.dumps(k.root.__dict__) if k.root else None,
            "emitted": k.event is None,
            "turn_emitted": k.root is None,  # for a root: its trace is assembled
            "seen_at": now,
        }
        for k in kept
    ]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(otlp_spans).on_conflict_do_nothing(), rows)


def _load(conn: Connection, traces: Iterable[str]) -> dict[str, list[Any]]:
    ordered = sorted(traces)
    by_trace: dict[str, list[Any]] = {}
    for i in range(0, len(ordered), _CHUNK):
        chunk = ordered[i : i + _CHUNK]
        query = select(otlp_spans).where(otlp_spans.c.trace_id.in_(chunk))
        for row in conn.execute(query):
            by_trace.setdefault(row.trace_id, []).append(row)
    return by_trace


def _assemble(
    conn: Connection, traces: Iterable[str], now: float, ts: TraceSettings, *, late_only: bool
) -> list[Event]:
    """Map the traces that are due; ``late_only``: only those assembled before (their new
    spans are late) or whose root settles at once (``settle_s`` 0)."""
    events: list[Event] = []
    done: list[dict[str, str]] = []
    assembled: list[dict[str, str]] = []
    for trace_id, rows in _load(conn, traces).items():
        rows.sort(key=lambda r: (r.start_ns, r.span_id))
        root = next((r for r in rows if r.root), None)
        if root is not None:
            due = root.turn_emitted or root.seen_at <= now - ts.settle_s
        else:
            due = not late_only and min(r.seen_at for r in rows) <= now - ts.wait_s
        if due:
            events.extend(_map_trace(trace_id, rows, root, done, assembled))
    c = otlp_spans.c
    where = and_(c.trace_id == bindparam("t"), c.span_id == bindparam("s"))
    if done:
        conn.execute(update(otlp_spans).where(where).values(emitted=True), done)
    if assembled:
        values = {"turn_emitted": True, "role": bindparam("role")}
        conn.execute(update(otlp_spans).where(where).values(values), assembled)
    return events


def _first(rows: Sequence[Any], root: Any, column: str) -> str | None:
    if root is not None and getattr(root, column) is not None:
        return str(getattr(root, column))
    return next((str(getattr(r, column)) for r in rows if getattr(r, column) is not None), None)


def _map_trace(
    trace_id: str,
    rows: list[Any],
    root: Any,
    done_keys: list[dict[str, str]],
    assembled: list[dict[str, str]],
) -> list[Event]:
    """The trace's events now due; the spans they settle are added to the two key lists."""
    session, user = _first(rows, root, "session_id"), _first(rows, root, "user_id")
    parsed = {r.span_id: _span_event.validate_json(r.event) for r in rows if r.event is not None}
    keep: list[LLMCall | RAGSearch] = []
    done: list[str] = []
    calls = [_call_span(r, parsed[r.span_id]) for r in rows if r.role in ("llm", "embedding")]
    for group in duplicate_groups(calls):
        if not any(c.emitted for c in group):
            keep.append(parsed[group[0].span_id])
        done.extend(c.span_id for c in group if not c.emitted)
    for r in rows:
        if r.role == "rag" and not r.emitted:
            keep.append(parsed[r.span_id])
            done.append(r.span_id)
    out: list[Event] = [e.model_copy(update={"session_id": session, "user_id": user}) for e in keep]
    done_keys.extend({"t": trace_id, "s": span_id} for span_id in done)
    if root is None or (root.turn_emitted and root.role != _EMPTY):
        return out
    if parsed:
        try:
            out.append(_turn(trace_id, root, rows, parsed, session, user))
        except ValidationError:  # its spans were checked; the turn is left out, not a 500
            log.warning("chatwatch: an OTLP trace's turn failed validation; left out")
        role = "context" if root.role == _EMPTY else root.role
        assembled.append({"t": trace_id, "s": root.span_id, "role": role})
    elif not root.turn_emitted:  # no call or search yet: a later one still makes the turn
        assembled.append({"t": trace_id, "s": root.span_id, "role": _EMPTY})
    return out


def _call_span(row: Any, event: LLMCall | RAGSearch) -> CallSpan:
    tokens = event.input_tokens + event.output_tokens if isinstance(event, LLMCall) else 0
    return CallSpan(
        row.span_id,
        row.parent_id,
        row.role,
        row.model,
        row.start_ns,
        row.end_ns,
        tokens,
        row.emitted,
    )


def _turn(
    trace_id: str,
    root: Any,
    rows: Sequence[Any],
    parsed: dict[str, LLMCall | RAGSearch],
    session: str | None,
    user: str | None,
) -> Turn:
    info = json.loads(root.root_info)
    chat = [e for e in parsed.values() if isinstance(e, LLMCall) and e.kind == "chat"]
    searches = [e for e in parsed.values() if isinstance(e, RAGSearch)]
    calls = [_call_span(r, parsed[r.span_id]) for r in rows if r.role == "llm"]
    counted = {group[0].span_id for group in duplicate_groups(calls)}
    chat = [e for e in chat if e.id.rsplit("-", 1)[-1] in counted]
    tokens = sum(e.input_tokens + e.output_tokens for e in chat)
    return Turn(
        type="turn",
        id=f"otel-turn-{trace_id}",
        ts=root.start_ns / 1e9,
        service=info["service"],
        session_id=session,
        user_id=user,
        run_id=trace_id,
        response_time_ms=min((root.end_ns - root.start_ns) / 1e6, DAY_MS),
        success=not info["failed"],
        error_type=(info["error_type"] or "error") if info["failed"] else None,
        model=min(chat, key=lambda e: e.ts).model if chat else None,
        tokens=tokens if chat else None,
        llm_calls=len(chat),  # the turn's tokens are its calls': counted once
        rag_searches=len(searches),
        rag_used=bool(searches),
        rag_found=any(s.results > 0 for s in searches),
    )
