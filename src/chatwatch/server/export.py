"""``GET /api/chat/analytics/export/`` with ``Authorization: Token …`` (guide 000), and
the raw exports (``type=sessions|turns|…``), streamed as they are read."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from chatwatch.export import (
    ExportFormat,
    ExportType,
    Granularity,
    RowFilter,
    date_range,
    encode,
    export_records,
    export_rows,
    media_type,
    parquet_available,
    to_csv,
)
from chatwatch.server.auth import require
from chatwatch.server.reads import run_read
from chatwatch.server.state import state
from chatwatch.store import Filters

__all__ = ["router"]

router = APIRouter(tags=["export"])


def _invalid(field: str, msg: str) -> HTTPException:
    return HTTPException(422, [{"loc": ["query", field], "msg": msg, "type": "value_error"}])


@router.get("/api/chat/analytics/export/")
async def export_analytics(
    request: Request,
    _key: Annotated[object, Depends(require("read", open_on_loopback=False))],
    start_date: Annotated[date, Query(description="first UTC day, included")],
    end_date: Annotated[date, Query(description="last UTC day, included")],
    type: Annotated[ExportType, Query(description="what one row is (docs/export.md)")] = "daily",
    format: Annotated[ExportFormat, Query()] = "csv",
    granularity: Annotated[
        str | None, Query(pattern="^(day|hour)$", description="type=daily (day) or hourly")
    ] = None,
    service: Annotated[str | None, Query(max_length=64)] = None,
    model: Annotated[str | None, Query(max_length=128)] = None,
    user_id: Annotated[str | None, Query(max_length=128)] = None,
    user_type: Annotated[str | None, Query(max_length=64)] = None,
    success: Annotated[bool | None, Query(description="turns/LLM calls/sessions")] = None,
    topic: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    """Rows of one ``type`` for whole UTC days. ``daily``/``hourly`` are the catalogue's
    figures per day or hour (``granularity=hour`` is the older spelling of
    ``type=hourly``); the other types are raw rows, streamed in constant memory."""
    if granularity == "hour" and type == "daily":
        type = "hourly"
    if format == "parquet" and not parquet_available():
        raise _invalid("format", "parquet needs the extra: pip install 'chatwatch[parquet]'")
    try:
        start, end = date_range(start_date, end_date)
    except ValueError as exc:
        raise _invalid("end_date", str(exc)) from None
    cat = state(request).catalogue
    name = f"chat-{type}-{start_date}-{end_date}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if type in ("daily", "hourly"):
        filters = Filters(service=service, model=model, user_type=user_type)
        granularity_: Granularity = "day" if type == "daily" else "hour"
        try:
            rows = await run_read(
                request, export_rows, cat, start_date, end_date, filters, granularity_
            )
        except ValueError as exc:
            raise _invalid("end_date", str(exc)) from None
        if format == "json":  # guide 000's shape, kept
            return JSONResponse({"rows": rows}, headers=headers)
        if format == "csv":
            return Response(to_csv(rows), media_type=media_type("csv"), headers=headers)
        return Response(b"".join(encode(rows, type, format)), media_type=media_type(format))
    f = RowFilter(start, end, service, model, user_id, user_type, success, topic)
    body = encode(export_records(cat, type, f), type, format)
    return StreamingResponse(body, media_type=media_type(format), headers=headers)
