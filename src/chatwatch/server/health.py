"""Liveness (static) and readiness (the database answers, takes a write, and folds)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from chatwatch.server.state import state

__all__ = ["FOLD_FAILURES_NOT_READY", "router"]

router = APIRouter()
FOLD_FAILURES_NOT_READY = 3  # folds failed in a row before /readyz says not ready


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={503: {"description": "the database cannot be read or written, or folds fail"}},
)
async def readyz(request: Request) -> JSONResponse:
    store = state(request).store

    def check() -> None:
        with store.read() as conn:
            conn.execute(text("SELECT 1"))
        store.probe_write()  # one row updated: a read-only or full database fails here

    try:
        await run_in_threadpool(check)
    except Exception as exc:  # any database failure means "not ready"
        return JSONResponse({"status": "unavailable", "error": type(exc).__name__}, 503)
    if store.fold_failures >= FOLD_FAILURES_NOT_READY:
        failing = {"status": "unavailable", "error": "the rollup journal fails to fold"}
        return JSONResponse(failing, 503)
    return JSONResponse({"status": "ok", "database": store.dialect})
