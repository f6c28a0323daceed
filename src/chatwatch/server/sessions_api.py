"""The read API for single conversations (``read`` key): sessions found by filters and
paged by cursor, one session with everything recorded in it, one run by its ``run_id``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from chatwatch.server.auth import require
from chatwatch.server.params import FilterLabel, FilterLongLabel, FilterName, IsoDateTime
from chatwatch.server.session_doc import locate_session, run_doc, session_doc, session_row_doc
from chatwatch.server.state import state
from chatwatch.store.session_query import BadCursor, SessionFilter, Sort, read_session_page

__all__ = ["SessionParams", "router", "sessions_page"]

router = APIRouter(prefix="/api/v1", tags=["sessions"])
_read = Depends(require("read", open_on_loopback=False))
MAX_LIMIT = 500


class SessionParams:
    """The filters of ``GET /api/v1/sessions`` (and of the dashboard's sessions page)."""

    def __init__(
        self,
        service: FilterLabel | None = None,
        user_id: FilterName | None = None,
        user_type: FilterLabel | None = None,
        topic: Annotated[FilterLongLabel | None, Query(description="a turn's topic")] = None,
        has_error: Annotated[bool | None, Query(description="had a failed turn")] = None,
        escalated: Annotated[bool | None, Query(description="handed to a human")] = None,
        rated: Annotated[bool | None, Query(description="has any rating")] = None,
        min_rating: Annotated[float | None, Query(ge=1, le=5, description="mean rating")] = None,
        max_rating: Annotated[float | None, Query(ge=1, le=5, description="mean rating")] = None,
        since: Annotated[
            IsoDateTime | None, Query(description="active at or after (ISO 8601, UTC)")
        ] = None,
        until: Annotated[IsoDateTime | None, Query(description="first seen before")] = None,
        q: Annotated[
            FilterName | None, Query(description="a user id or session id, exactly")
        ] = None,
    ) -> None:
        self.filter = SessionFilter(
            service=service or None,
            user_id=user_id or None,
            user_type=user_type or None,
            topic=topic or None,
            has_error=has_error,
            escalated=escalated,
            rated=rated,
            min_rating=min_rating,
            max_rating=max_rating,
            since=None if since is None else _ts(since),
            until=None if until is None else _ts(until),
            q=(q or "").strip() or None,
        )


def _ts(value: datetime) -> float:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC).timestamp()
    return value.timestamp()


def sessions_page(
    request: Request, f: SessionFilter, sort: Sort, limit: int, cursor: str | None
) -> dict[str, Any]:
    store = state(request).store
    try:
        with store.settled() as conn:
            page = read_session_page(conn, f, sort, limit, cursor)
    except BadCursor as exc:
        detail = [{"loc": ["query", "cursor"], "msg": str(exc), "type": "value_error"}]
        raise HTTPException(422, detail) from None
    return {
        "sessions": [session_row_doc(row, first) for row, first in page.rows],
        "next_cursor": page.next_cursor,
        "sort": sort,
    }


@router.get("/sessions", dependencies=[_read])
async def list_sessions(
    request: Request,
    params: Annotated[SessionParams, Depends()],
    sort: Annotated[
        Sort,
        Query(description="-first_seen (newest first, default), first_seen, -last_seen, last_seen"),
    ] = "-first_seen",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=1024, description="next_cursor")] = None,
) -> dict[str, Any]:
    """Sessions matching the filters, a page at a time: pass ``next_cursor`` back as
    ``cursor`` for the next page (``null`` on the last). Sorted by ``first_seen``, paging
    never skips or repeats a session while new events arrive."""
    return await run_in_threadpool(sessions_page, request, params.filter, sort, limit, cursor)


@router.get("/sessions/{session_id}", dependencies=[_read])
async def get_session(
    request: Request,
    session_id: Annotated[str, Path(min_length=1, max_length=128)],
    service: Annotated[
        str | None, Query(max_length=64, description="needed if ids repeat across services")
    ] = None,
) -> dict[str, Any]:
    """One session: its turns (each with its LLM calls, RAG searches, cache lookups,
    feedback and escalations), and the log of everything else (connections, messages)."""
    store = state(request).store
    services = await run_in_threadpool(locate_session, store, session_id, service)
    if not services:
        raise HTTPException(404, f"session_id: no session {session_id!r}")
    if len(services) > 1:
        names = ", ".join(services)
        raise HTTPException(409, f"service: session {session_id!r} is in {names}; name one")
    doc = await run_in_threadpool(session_doc, store, services[0], session_id)
    if doc is None:
        raise HTTPException(404, f"session_id: no session {session_id!r}")
    return doc


@router.get("/runs/{run_id}", dependencies=[_read])
async def get_run(
    request: Request, run_id: Annotated[str, Path(min_length=1, max_length=64)]
) -> dict[str, Any]:
    """One run (a turn, LangSmith-style): the turn and every call made inside it, with
    the URL of its session."""
    doc = await run_in_threadpool(run_doc, state(request).store, run_id)
    if doc is None:
        raise HTTPException(404, f"run_id: no run {run_id!r}")
    return doc
