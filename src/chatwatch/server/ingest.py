"""Ingest: decode → validate → store (with rollups) → acknowledge after commit."""

from __future__ import annotations

import logging
import os
import time
from itertools import count
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from chatwatch.events import Turn
from chatwatch.server.auth import require
from chatwatch.server.group_commit import GroupWriter
from chatwatch.server.inflate import BadGzip, TooLarge
from chatwatch.server.openapi_doc import INGEST_RESPONSES
from chatwatch.server.params import LabelQuery, LongLabelQuery, NameQuery
from chatwatch.server.parse_pool import BatchTooLarge, InvalidBatch, ParsePool
from chatwatch.server.state import AppState, state
from chatwatch.store import IngestResult
from chatwatch.store.journal import unavailable
from chatwatch.store.writer import Prepared, prepare

__all__ = [
    "group_writer",
    "is_gzip",
    "parse_pool",
    "read_body",
    "router",
    "server_id",
    "write",
]

router = APIRouter()
log = logging.getLogger("chatwatch.server")
RETRY_AFTER = "5"  # seconds a sender waits when the database cannot take writes
_ids = count()
_PROCESS_TAG = os.urandom(3).hex()


def group_writer(st: AppState) -> GroupWriter:
    """The app's one ingest writer (made on first use, in the event loop's thread)."""
    writer = st.extras.get("group_writer")
    if writer is None:
        writer = st.extras["group_writer"] = GroupWriter(st.store)
    assert isinstance(writer, GroupWriter)
    return writer


async def write(st: AppState, batch: Prepared) -> IngestResult:
    """Commit one batch; a database that cannot take it (down, read-only, full) is a 503
    with Retry-After, so a sender keeps the batch and tries again later."""
    try:
        return await group_writer(st).ingest(batch)
    except Exception as exc:
        if not unavailable(exc):
            raise
        log.warning(
            "chatwatch: ingest refused, the database cannot be written (%s)", type(exc).__name__
        )
        raise HTTPException(
            503, "the database cannot take writes now; retry later", {"Retry-After": RETRY_AFTER}
        ) from None


def _json_only(request: Request) -> None:
    """A batch is JSON: another declared Content-Type is a 415 (none at all is taken)."""
    declared = request.headers.get("content-type")
    if declared is None:
        return
    media = declared.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise HTTPException(415, "send the batch as application/json")


def server_id() -> str:
    """Time-ordered ids for events the server makes itself (seed-style POSTs)."""
    return f"{time.time_ns() // 1_000_000:012x}{_PROCESS_TAG}{next(_ids):06x}"


async def read_body(request: Request, limit: int) -> bytes:
    """The body as sent (at most ``limit`` bytes, or a 413)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"batch larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise HTTPException(413, f"batch larger than {limit} bytes")
    return bytes(body)


def is_gzip(request: Request) -> bool:
    return request.headers.get("content-encoding", "").lower() == "gzip"


def _gzip_refused(exc: BadGzip | TooLarge, limit: int) -> HTTPException:
    if isinstance(exc, TooLarge):
        return HTTPException(413, f"decompressed batch larger than {limit} bytes")
    return HTTPException(400, f"body is not valid gzip: {exc}")


def parse_pool(st: AppState) -> ParsePool:
    """The app's pool of worker processes validating batches (made on first use)."""
    pool = st.extras.get("parse_pool")
    if pool is None:
        pool = st.extras["parse_pool"] = ParsePool(st.settings.ingest_processes)
    assert isinstance(pool, ParsePool)
    return pool


@router.post("/api/v1/events", status_code=202, responses=INGEST_RESPONSES)
async def ingest_events(
    request: Request, _key: Annotated[object, Depends(require("ingest", open_on_loopback=False))]
) -> JSONResponse:
    st = state(request)
    _json_only(request)
    limit = st.settings.max_batch_bytes
    body = await read_body(request, limit)
    try:
        # a gzip body is inflated on the thread that then decodes it, not on the loop:
        # inflating was a third of the loop's work under load (bench/ingest.py)
        batch = await parse_pool(st).prepare(
            body,
            st.settings.max_batch_events,
            st.store.store_text,
            st.settings.event_retention_days * 86400.0,
            gzip_limit=limit if is_gzip(request) else None,
            # PostgreSQL's writer journals a group's increments merged (with its index
            # rows), so an encoding made here would go unused
            encode=st.store.dialect == "sqlite",
        )
    except (BadGzip, TooLarge) as exc:
        raise _gzip_refused(exc, limit) from None
    except InvalidBatch as exc:
        return JSONResponse({"detail": exc.details, "errors_total": exc.total}, status_code=422)
    except BatchTooLarge as exc:
        raise HTTPException(413, f"more than {exc.limit} events in one batch") from None
    result = await write(st, batch)
    return JSONResponse(
        {"accepted": result.accepted, "duplicates": result.duplicates}, status_code=202
    )


@router.post("/monitoring/chat/metrics")
async def record_chat_metrics(
    request: Request,
    _key: Annotated[object, Depends(require("ingest"))],
    success: bool,
    response_time_ms: Annotated[float, Query(ge=0, le=86_400_000)],
    rag_used: bool = False,
    rag_found: bool = False,
    llm_tokens: Annotated[int | None, Query(ge=0, le=100_000_000)] = None,
    service: LabelQuery = "default",
    session_id: NameQuery | None = None,
    user_id: NameQuery | None = None,
    user_type: LabelQuery | None = None,
    model: LongLabelQuery | None = None,
    topic: LongLabelQuery | None = None,
    error_type: LongLabelQuery | None = None,
    cached: bool | None = None,  # absent: not recorded (not a miss)
) -> dict[str, Any]:
    """The FastAPI guide's recording call, kept as it is; it becomes one ``turn`` event."""
    st = state(request)
    event_id = server_id()
    try:
        turn = Turn(
            type="turn",
            id=event_id,
            ts=time.time(),
            service=service,
            session_id=session_id,
            user_id=user_id,
            user_type=user_type,
            response_time_ms=response_time_ms,
            success=success,
            error_type=error_type if not success else None,
            rag_used=rag_used or rag_found,
            rag_found=rag_found,
            tokens=llm_tokens,
            model=model,
            topic=topic,
            cached=cached,
        )
    except ValidationError as exc:  # the query types check the same; this is a backstop
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        detail = [{"loc": ["query", *map(str, e["loc"])], "msg": e["msg"]} for e in errors]
        raise HTTPException(422, detail) from None
    await write(st, prepare([turn], store_text=st.store.store_text))
    return {"status": "recorded", "run_id": event_id}
