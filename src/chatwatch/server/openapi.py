"""``GET /openapi.json`` for a read key: FastAPI's own schema and docs pages are turned off,
as every route but health is closed (the schema is served here, behind a key)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from chatwatch.server.auth import require

__all__ = ["router"]

router = APIRouter()


@router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request, _key: Annotated[object, Depends(require("read"))]) -> Any:
    return request.app.openapi()
