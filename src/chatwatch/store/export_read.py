"""Raw rows for exports, streamed from the database a chunk at a time.

Each read is one query walking an index (``events`` by ``ts``, ``sessions`` by
``last_seen``, ``alert_history`` by ``ts``), fetched with a server-side cursor on
PostgreSQL (``stream_results``) and SQLite's own lazy cursor, so memory stays flat
however many rows the range holds. Filters on indexed columns go to the database; the
rest (fields inside an event's JSON) are applied to each decoded row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, exists, or_, select

from chatwatch.store.schema import alert_history, event_sessions, events, sessions
from chatwatch.store.session_query import json_field

__all__ = ["CHUNK", "RowFilter", "iter_alert_rows", "iter_event_rows", "iter_session_rows"]

CHUNK = 2000


@dataclass(frozen=True)
class RowFilter:
    start: float
    end: float  # exclusive
    service: str | None = None
    model: str | None = None
    user_id: str | None = None
    user_type: str | None = None
    success: bool | None = None
    topic: str | None = None


def _stream(conn: Connection) -> Connection:
    return conn.execution_options(stream_results=True, yield_per=CHUNK)


def _keep(data: dict[str, Any], f: RowFilter, kind: str) -> bool:
    if f.user_type is not None and data.get("user_type") != f.user_type:
        return False
    if f.model is not None and data.get("model") != f.model:
        return False
    checks_success = f.success is not None and kind in ("turn", "llm_call")
    if checks_success and bool(data.get("success", True)) != f.success:
        return False
    return f.topic is None or data.get("topic") == f.topic


def iter_event_rows(conn: Connection, kind: str, f: RowFilter) -> Iterator[dict[str, Any]]:
    """Events of one type in ``[start, end)``, in time order, each as its stored fields
    plus ``id``, ``ts``, ``service``, ``session_id``, ``user_id``."""
    e = events.c
    query = select(e.id, e.ts, e.service, e.session_id, e.user_id, e.data).where(
        e.ts >= f.start, e.ts < f.end, e.type == kind
    )
    if f.service is not None:
        query = query.where(e.service == f.service)
    if f.user_id is not None:
        query = query.where(e.user_id == f.user_id)
    for row in _stream(conn).execute(query.order_by(e.ts, e.id)):
        data = json.loads(row.data)
        if not _keep(data, f, kind):
            continue
        data.update(
            id=row.id,
            ts=float(row.ts),
            service=row.service,
            session_id=row.session_id,
            user_id=row.user_id,
        )
        yield data


def iter_session_rows(conn: Connection, f: RowFilter) -> Iterator[dict[str, Any]]:
    """Sessions active in ``[start, end)`` (last seen in it), oldest activity first.
    ``success=False`` keeps sessions with a failed turn; ``topic``/``model`` keep sessions
    with a turn (or LLM call) of that topic (model)."""
    s = sessions.c
    columns = [c for c in sessions.c if c.name != "open_connections"]
    query = select(*columns).where(s.last_seen >= f.start, s.last_seen < f.end)
    for column, value in ((s.service, f.service), (s.user_id, f.user_id)):
        if value is not None:
            query = query.where(column == value)
    if f.user_type is not None:
        query = query.where(s.user_type == f.user_type)
    if f.success is not None:
        query = query.where(s.errors == 0 if f.success else s.errors > 0)
    e = events.c
    es = event_sessions.c
    for field, value, kinds in (
        ("topic", f.topic, ("turn",)),
        ("model", f.model, ("turn", "llm_call")),
    ):
        if value is not None:
            query = query.where(
                exists().where(
                    es.service == s.service,
                    es.session_id == s.session_id,
                    e.id == es.id,
                    or_(*(e.type == k for k in kinds)),
                    json_field(conn, e.data, field) == value,
                )
            )
    for row in _stream(conn).execute(query.order_by(s.last_seen, s.service, s.session_id)):
        yield dict(row._mapping)


def iter_alert_rows(conn: Connection, f: RowFilter) -> Iterator[dict[str, Any]]:
    """Alert transitions in ``[start, end)``, in time order (``service`` matches the
    alert's ``service`` label)."""
    h = alert_history.c
    query = select(*alert_history.c).where(h.ts >= f.start, h.ts < f.end)
    for row in _stream(conn).execute(query.order_by(h.ts, h.id)):
        doc = dict(row._mapping)
        if f.service is not None and json.loads(doc["labels"]).get("service") != f.service:
            continue
        yield doc
