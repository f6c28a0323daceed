"""``POST /v1/traces``: the OTLP/HTTP traces endpoint (protobuf or JSON)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from google.protobuf.message import DecodeError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from chatwatch.events import error_details
from chatwatch.integrations.otlp import decode_request, spans_to_events
from chatwatch.server.auth import require
from chatwatch.server.ingest import read_body
from chatwatch.server.state import state

__all__ = ["router"]

router = APIRouter()


@router.post("/v1/traces")
async def otlp_traces(
    request: Request, _key: Annotated[object, Depends(require("ingest", open_on_loopback=False))]
) -> Response:
    st = state(request)
    content_type = request.headers.get("content-type", "application/x-protobuf")
    body = await read_body(request, st.settings.max_batch_bytes)
    try:
        events = spans_to_events(decode_request(body, content_type))
    except ValidationError as exc:
        return JSONResponse({"detail": error_details(exc)}, status_code=400)
    except (DecodeError, ValueError, KeyError, TypeError) as exc:
        return JSONResponse({"detail": f"not an OTLP trace export: {exc}"}, status_code=400)
    if events:
        await run_in_threadpool(st.store.ingest, events)
    if "json" in content_type:
        return JSONResponse({})
    return Response(b"", media_type="application/x-protobuf")
