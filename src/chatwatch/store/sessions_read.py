"""Reads of single sessions and their raw events, for the dashboard's tables and session page.

Each read walks an index: ``sessions`` by ``last_seen`` (newest first, stopping at the
limit) and ``event_sessions`` by ``(service, session_id, ts)`` into ``events`` by id, so
its cost does not grow with the number of stored events.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Select, and_, or_, select

from chatwatch.store.rollup import DAY
from chatwatch.store.schema import event_sessions, events, rollups, sessions

__all__ = [
    "ErrorTurn",
    "SessionRow",
    "StoredEvent",
    "read_error_turns",
    "read_escalated_sessions",
    "read_escalation_reasons",
    "read_recent_sessions",
    "read_services",
    "read_session",
    "read_session_events",
    "session_events_of",
]


def session_events_of(
    keys: Sequence[tuple[str, str]], since: float | None = None, until: float | None = None
) -> ColumnElement[bool]:
    """``events`` rows of these ``(service, session_id)`` pairs (in ``[since, until)``
    when given), found through ``event_sessions``: read after a fold (Store's settled
    reads), it holds every stored event of a session."""
    es = event_sessions.c
    pairs = [and_(es.service == svc, es.session_id == sid) for svc, sid in keys]
    ids = select(es.id).where(or_(*pairs))
    if since is not None:
        ids = ids.where(es.ts >= since)
    if until is not None:
        ids = ids.where(es.ts < until)
    return events.c.id.in_(ids)


@dataclass(frozen=True)
class SessionRow:
    service: str
    session_id: str
    user_id: str | None
    user_type: str | None
    channel: str | None
    started_at: float | None
    ended_at: float | None
    last_seen: float
    turns: int
    errors: int
    messages: int
    reconnects: int
    escalated_at: float | None
    rating_sum: int
    rating_n: int


@dataclass(frozen=True)
class StoredEvent:
    """One row of ``events`` with its type-specific fields decoded."""

    id: str
    ts: float
    type: str
    service: str
    session_id: str | None
    run_id: str | None
    user_id: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class ErrorTurn:
    ts: float
    service: str
    session_id: str
    user_id: str | None
    run_id: str | None
    error_type: str | None
    topic: str | None
    model: str | None
    response_time_ms: float | None


def _session(row: Row[Any]) -> SessionRow:
    return SessionRow(**{name: row._mapping[name] for name in SessionRow.__dataclass_fields__})


def _sessions_query(since: float, until: float, service: str | None) -> Select[Any]:
    s = sessions.c
    query = select(*(s[name] for name in SessionRow.__dataclass_fields__)).where(
        s.last_seen >= since, s.last_seen < until
    )
    if service is not None:
        query = query.where(s.service == service)
    return query.order_by(s.last_seen.desc())


def read_recent_sessions(
    conn: Connection, since: float, until: float, service: str | None, limit: int
) -> list[SessionRow]:
    """Sessions last active in [since, until), most recent first."""
    return [_session(r) for r in conn.execute(_sessions_query(since, until, service).limit(limit))]


def read_escalated_sessions(
    conn: Connection, since: float, until: float, service: str | None, limit: int
) -> list[SessionRow]:
    query = _sessions_query(since, until, service).where(sessions.c.escalated_at.is_not(None))
    return [_session(r) for r in conn.execute(query.limit(limit))]


def read_session(conn: Connection, service: str, session_id: str) -> SessionRow | None:
    s = sessions.c
    query = select(*(s[name] for name in SessionRow.__dataclass_fields__)).where(
        s.service == service, s.session_id == session_id
    )
    row = conn.execute(query).first()
    return None if row is None else _session(row)


def _event(row: Any) -> StoredEvent:
    return StoredEvent(
        id=row.id,
        ts=float(row.ts),
        type=row.type,
        service=row.service,
        session_id=row.session_id,
        run_id=row.run_id,
        user_id=row.user_id,
        data=json.loads(row.data),
    )


def read_session_events(conn: Connection, service: str, session_id: str) -> list[StoredEvent]:
    """Every stored event of one session, in time order."""
    e = events.c
    query = (
        select(e.id, e.ts, e.type, e.service, e.session_id, e.run_id, e.user_id, e.data)
        .where(session_events_of([(service, session_id)]))
        .order_by(e.ts, e.id)
    )
    return [_event(row) for row in conn.execute(query)]


def read_error_turns(
    conn: Connection, since: float, until: float, service: str | None, limit: int
) -> list[ErrorTurn]:
    """Failed turns in [since, until), newest first, found through sessions that had errors."""
    s = sessions.c
    started = or_(s.started_at.is_(None), s.started_at < until)
    query = select(s.service, s.session_id).where(s.last_seen >= since, s.errors > 0, started)
    if service is not None:
        query = query.where(s.service == service)
    keys = [tuple(r) for r in conn.execute(query.order_by(s.last_seen.desc()).limit(limit))]
    if not keys:
        return []
    e = events.c
    # OR of (service, session_id) pairs: SQLite walks the session index once per pair,
    # where a row-value IN would scan every event in the time range.
    turns = select(e.ts, e.service, e.session_id, e.user_id, e.run_id, e.data).where(
        session_events_of(keys, since, until), e.type == "turn"
    )
    found = []
    for row in conn.execute(turns):
        data = json.loads(row.data)
        if data.get("success", True):
            continue
        found.append(
            ErrorTurn(
                ts=float(row.ts),
                service=row.service,
                session_id=row.session_id,
                user_id=row.user_id,
                run_id=row.run_id,
                error_type=data.get("error_type"),
                topic=data.get("topic"),
                model=data.get("model"),
                response_time_ms=data.get("response_time_ms"),
            )
        )
    found.sort(key=lambda t: t.ts, reverse=True)
    return found[:limit]


def read_escalation_reasons(
    conn: Connection, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], str | None]:
    """The first escalation's reason of each ``(service, session_id)``."""
    if not keys:
        return {}
    e = events.c
    query = (
        select(e.service, e.session_id, e.data)
        .where(session_events_of(keys), e.type == "escalation")
        .order_by(e.ts.desc())
    )
    return {
        (r.service, r.session_id): json.loads(r.data).get("reason") for r in conn.execute(query)
    }


def read_services(conn: Connection, since: float) -> list[str]:
    """Services with data since ``since`` (whole UTC days), from the daily rollups."""
    r = rollups.c
    query = (
        select(r.service)
        .where(r.res == DAY, r.bucket >= int(since) // DAY * DAY)
        .distinct()
        .order_by(r.service)
    )
    return [str(service) for (service,) in conn.execute(query)]
