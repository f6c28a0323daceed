"""``POST /v1/traces``: the OTLP/HTTP traces endpoint (protobuf or JSON, gzip or deflate).

Bounded like ``/api/v1/events``: the body (and its decompressed size) is capped, spans are
counted before any is mapped (more than ``max_batch_events`` → 413), and decoding, mapping
and storing run in a worker thread, off the event loop. Malformed exports are 400, never
500; a span that fails its checks is dropped alone and reported in ``partial_success``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.concurrency import run_in_threadpool

from chatwatch.integrations.otlp import (
    BadExport,
    ExportResult,
    TooManySpans,
    TraceSettings,
    flush_pending,
    has_kept_spans,
    ingest_export,
)
from chatwatch.server.auth import require
from chatwatch.server.inflate import TooLarge, inflate
from chatwatch.server.state import AppState, state

__all__ = ["mark_active", "pending_task", "router", "trace_settings"]

log = logging.getLogger("chatwatch.server")
router = APIRouter()
_PROTOBUF = {"application/x-protobuf", "application/protobuf"}
_JSON = {"application/json"}
_ACTIVE = "otlp_active"  # st.extras: an export came (or spans were kept before)
_ENCODINGS = {"", "identity", "gzip", "deflate"}
# Spans carry prompts and completions that chatwatch drops, and compression is what the
# docs tell exporters to use against the size limit: decompressed, an export may be this
# many times the limit on the wire (still bounded by it), and its spans are counted.
_DECOMPRESSED_FACTOR = 8

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {  # the export's own encoding: protobuf for protobuf, JSON for JSON
        "description": "ExportTraceServiceResponse (partial_success names dropped spans)",
        "content": {
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"type": "object"}},
        },
    },
    400: {"description": "not an OTLP trace export", "content": _ERROR},
    401: {"description": "no API key", "content": _ERROR},
    403: {"description": "not an ingest key", "content": _ERROR},
    413: {"description": "body, decompressed body or span count over its limit", "content": _ERROR},
    415: {
        "description": "content type or encoding neither protobuf/JSON nor gzip/deflate",
        "content": _ERROR,
    },
}
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


def mark_active(st: AppState) -> None:
    """An export came: the assembly task starts working."""
    st.extras[_ACTIVE] = True


def trace_settings(st: AppState) -> TraceSettings:
    s = st.settings
    return TraceSettings(s.otlp_trace_settle_s, s.otlp_trace_wait_s, s.otlp_span_keep_s)


_GZIP_HINT = (
    "; send it compressed (OTEL_EXPORTER_OTLP_COMPRESSION=gzip: the limit applies to the"
    " body as sent) or in smaller batches (OTEL_BSP_MAX_EXPORT_BATCH_SIZE)"
)


async def _read_raw(request: Request, limit: int, compressed: bool) -> bytes:
    """The body as sent, at most ``limit`` bytes; past it a 413 that names the exporter
    settings which avoid it."""
    message = f"export larger than {limit} bytes" + ("" if compressed else _GZIP_HINT)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, message)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise HTTPException(413, message)
    return bytes(body)


def _decompress(data: bytes, encoding: str, limit: int) -> bytes:
    """gzip, or HTTP ``deflate`` (zlib-wrapped; raw deflate read too), at most ``limit``."""
    tries = [16 + zlib.MAX_WBITS] if encoding == "gzip" else [zlib.MAX_WBITS, -zlib.MAX_WBITS]
    for wbits in tries:
        try:
            return inflate(data, wbits, limit)
        except zlib.error:
            continue
        except TooLarge:
            raise HTTPException(413, f"decompressed export larger than {limit} bytes") from None
    raise HTTPException(400, f"body is not valid {encoding}")


@router.post("/v1/traces", responses=_RESPONSES, openapi_extra=_BODY)
async def otlp_traces(
    request: Request, _key: Annotated[object, Depends(require("ingest", open_on_loopback=False))]
) -> Response:
    st = state(request)
    mark_active(st)
    ctype = request.headers.get("content-type", "application/x-protobuf")
    media = ctype.split(";", 1)[0].strip().lower()
    if media not in _PROTOBUF | _JSON:
        raise HTTPException(415, "Content-Type must be application/x-protobuf or application/json")
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in _ENCODINGS:
        raise HTTPException(415, "Content-Encoding must be gzip, deflate or identity")
    limit = st.settings.max_batch_bytes
    body = await _read_raw(request, limit, compressed=encoding in ("gzip", "deflate"))
    if encoding in ("gzip", "deflate"):
        body = await run_in_threadpool(_decompress, body, encoding, limit * _DECOMPRESSED_FACTOR)
    json_body = media in _JSON
    try:
        result = await run_in_threadpool(
            ingest_export,
            st.store,
            body,
            json_body=json_body,
            max_spans=st.settings.max_batch_events,
            settings=trace_settings(st),
            max_age_s=st.settings.event_retention_days * 86400.0,
        )
    except BadExport as exc:
        raise HTTPException(400, str(exc)) from None
    except TooManySpans as exc:
        raise HTTPException(
            413, f"{exc.spans} spans: more than {exc.limit} in one export"
        ) from None
    return _answer(result, json_body)


def _answer(result: ExportResult, json_body: bool) -> Response:
    answer = ExportTraceServiceResponse()
    if result.rejected:
        answer.partial_success.rejected_spans = len(result.rejected)
        answer.partial_success.error_message = result.error_message()
    if json_body:
        return JSONResponse(MessageToDict(answer))
    return Response(answer.SerializeToString(), media_type="application/x-protobuf")


async def pending_task(st: AppState) -> None:
    """Assemble, now and then, the traces that are due (see integrations/otlp/traces.py)."""
    settings = trace_settings(st)
    period = min(max(min(settings.settle_s, settings.wait_s) / 2, 0.1), 30.0)
    with contextlib.suppress(Exception):  # spans kept before a restart
        if await asyncio.to_thread(has_kept_spans, st.store):
            st.extras[_ACTIVE] = True
    while True:
        await asyncio.sleep(period)
        if not st.extras.get(_ACTIVE):
            continue  # no OTLP export yet: no write transaction every few seconds
        try:
            await asyncio.to_thread(flush_pending, st.store, time.time(), settings)
        except Exception:  # the next round tries again; the data stays kept
            log.warning("chatwatch: assembling OTLP traces failed; retrying", exc_info=True)
