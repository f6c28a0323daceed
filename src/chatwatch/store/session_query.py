"""Sessions found by filters and read a page at a time, for the read API and the
dashboard's sessions explorer.

Pages are cut by keyset (the last row's sort value, then ``(service, session_id)``), not
by offset, so page 1000 costs what page 1 costs. Sorted by ``first_seen`` (set when the
row is made and never updated), a session never moves while new events arrive: paging
through never skips or repeats one. ``last_seen`` changes with every event, so paging by
it may show a session that became active again twice, or miss it (said in the docs).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, and_, cast, exists, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import KeyedColumnElement

from chatwatch.store.schema import event_sessions, events, sessions
from chatwatch.store.sessions_read import SessionRow, StoredEvent, _event, _session

__all__ = [
    "SORTS",
    "BadCursor",
    "SessionFilter",
    "SessionPage",
    "Sort",
    "find_session",
    "json_field",
    "read_run_events",
    "read_session_page",
]

Sort = Literal["-first_seen", "first_seen", "-last_seen", "last_seen"]
SORTS: tuple[Sort, ...] = ("-first_seen", "first_seen", "-last_seen", "last_seen")
_COLUMNS = (*SessionRow.__dataclass_fields__, "first_seen")


class BadCursor(ValueError):
    """A cursor that this query did not make."""


@dataclass(frozen=True)
class SessionFilter:
    service: str | None = None
    user_id: str | None = None
    user_type: str | None = None
    topic: str | None = None
    has_error: bool | None = None
    escalated: bool | None = None
    rated: bool | None = None
    min_rating: float | None = None  # the session's mean rating, 1-5
    max_rating: float | None = None
    since: float | None = None  # active at or after (last_seen)
    until: float | None = None  # first seen before
    q: str | None = None  # a user id or a session id, exactly


@dataclass(frozen=True)
class SessionPage:
    rows: list[tuple[SessionRow, float | None]]  # each session with its first_seen
    next_cursor: str | None


def json_field(conn: Connection, column: Any, key: str) -> ColumnElement[Any]:
    """One top-level string field of a JSON text column, in the connection's dialect."""
    if conn.dialect.name == "postgresql":
        field: ColumnElement[Any] = cast(column, JSONB)[key].astext
        return field
    return func.json_extract(column, f"$.{key}")


def _conditions(conn: Connection, f: SessionFilter) -> list[ColumnElement[bool]]:
    s = sessions.c
    where: list[ColumnElement[bool]] = []
    pairs: list[tuple[Any, Any]] = [
        (s.service, f.service),
        (s.user_id, f.user_id),
        (s.user_type, f.user_type),
    ]
    where += [column == value for column, value in pairs if value is not None]
    if f.has_error is not None:
        where.append(s.errors > 0 if f.has_error else s.errors == 0)
    if f.escalated is not None:
        where.append(s.escalated_at.is_not(None) if f.escalated else s.escalated_at.is_(None))
    if f.rated is not None:
        where.append(s.rating_n > 0 if f.rated else s.rating_n == 0)
    if f.min_rating is not None:
        where += [s.rating_n > 0, s.rating_sum >= f.min_rating * s.rating_n]
    if f.max_rating is not None:
        where += [s.rating_n > 0, s.rating_sum <= f.max_rating * s.rating_n]
    if f.since is not None:
        where.append(s.last_seen >= f.since)
    if f.until is not None:
        where.append(s.first_seen < f.until)
    if f.q is not None:
        where.append(or_(s.session_id == f.q, s.user_id == f.q))
    if f.topic is not None:
        e = events.c
        es = event_sessions.c
        where.append(
            exists().where(
                es.service == s.service,
                es.session_id == s.session_id,
                e.id == es.id,
                e.type == "turn",
                json_field(conn, e.data, "topic") == f.topic,
            )
        )
    return where


def _encode(sort: Sort, value: float, service: str, session_id: str) -> str:
    raw = json.dumps([sort, value, service, session_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, sort: Sort) -> tuple[float, str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        made_for, value, service, session_id = json.loads(raw)
        if made_for != sort:
            raise BadCursor(f"this cursor was made for sort={made_for}")
        return float(value), str(service), str(session_id)
    except BadCursor:
        raise
    except (ValueError, TypeError) as exc:
        raise BadCursor("not a cursor this API made") from exc


def _after(key: KeyedColumnElement[Any], desc: bool, cursor: tuple[float, str, str]):  # type: ignore[no-untyped-def]
    s = sessions.c
    value, service, session_id = cursor
    # the plain bound lets the database walk the index from the cursor on; the OR alone
    # would make SQLite read every row before it (2 s at page 21 of 670 000 sessions)
    if desc:
        tie = or_(s.service < service, and_(s.service == service, s.session_id < session_id))
        return and_(key <= value, or_(key < value, tie))
    tie = or_(s.service > service, and_(s.service == service, s.session_id > session_id))
    return and_(key >= value, or_(key > value, tie))


def read_session_page(
    conn: Connection,
    f: SessionFilter,
    sort: Sort = "-first_seen",
    limit: int = 50,
    cursor: str | None = None,
) -> SessionPage:
    """One page of sessions matching ``f``; ``next_cursor`` is None on the last page."""
    s = sessions.c
    desc = sort.startswith("-")
    key = s[sort.lstrip("-")]
    where = _conditions(conn, f)
    where.append(key.is_not(None))
    if cursor is not None:
        where.append(_after(key, desc, _decode(cursor, sort)))
    order = (
        (key.desc(), s.service.desc(), s.session_id.desc())
        if desc
        else (key, s.service, s.session_id)
    )
    query = select(*(s[name] for name in _COLUMNS)).where(*where).order_by(*order).limit(limit + 1)
    found = list(conn.execute(query))
    rows = [(_session(r), r.first_seen) for r in found[:limit]]
    next_cursor = None
    if len(found) > limit:
        last = found[limit - 1]
        next_cursor = _encode(sort, float(last._mapping[key.name]), last.service, last.session_id)
    return SessionPage(rows, next_cursor)


def find_session(conn: Connection, session_id: str, service: str | None) -> list[str]:
    """The services holding a session with this id (one, unless ids repeat across services)."""
    s = sessions.c
    query = select(s.service).where(s.session_id == session_id)
    if service is not None:
        query = query.where(s.service == service)
    found = [str(svc) for (svc,) in conn.execute(query.order_by(s.service).limit(10))]
    if not found and service is not None:  # events of a session whose row expired
        es = event_sessions.c
        query = select(es.service).where(es.service == service, es.session_id == session_id)
        found = [str(svc) for (svc,) in conn.execute(query.limit(1))]
    return found


def read_run_events(conn: Connection, run_id: str) -> list[StoredEvent]:
    """Every event recorded with this run id (the turn and what ran inside it)."""
    e = events.c
    query = (
        select(e.id, e.ts, e.type, e.service, e.session_id, e.run_id, e.user_id, e.data)
        .where(e.run_id == run_id)
        .order_by(e.ts, e.id)
        .limit(10_000)
    )
    return [_event(row) for row in conn.execute(query)]
