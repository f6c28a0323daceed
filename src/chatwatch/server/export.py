"""``GET /api/chat/analytics/export/`` with ``Authorization: Token …`` (guide 000)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from chatwatch.export import export_rows, to_csv
from chatwatch.server.auth import require
from chatwatch.server.reads import run_read
from chatwatch.server.state import state
from chatwatch.store import Filters

__all__ = ["router"]

router = APIRouter()


@router.get("/api/chat/analytics/export/")
async def export_analytics(
    request: Request,
    _key: Annotated[object, Depends(require("read", open_on_loopback=False))],
    start_date: date,
    end_date: date,
    format: Annotated[Literal["csv", "json"], Query()] = "csv",
    granularity: Annotated[Literal["day", "hour"], Query()] = "day",
    service: Annotated[str | None, Query(max_length=64)] = None,
    model: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    cat = state(request).catalogue
    filters = Filters(service=service, model=model)
    try:
        rows = await run_read(request, export_rows, cat, start_date, end_date, filters, granularity)
    except ValueError as exc:
        detail = [{"loc": ["query", "end_date"], "msg": str(exc), "type": "value_error"}]
        raise HTTPException(422, detail) from None
    if format == "json":
        return JSONResponse({"rows": rows})
    filename = f"chat-analytics-{start_date}-{end_date}.csv"
    return Response(
        to_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
