"""API keys over HTTP, for an admin key: list (never the keys), create (the key is shown
once), revoke by prefix. The same as ``chatwatch keys list|create|revoke``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from chatwatch.server.auth import key_checker, require
from chatwatch.server.keys import (
    SCOPES,
    AmbiguousKey,
    KeyInfo,
    create_key,
    list_keys,
    parse_duration,
    revoke_key,
)
from chatwatch.server.state import state

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")
_admin = Depends(require("admin"))


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: str
    name: Annotated[str, Field(max_length=128)] = ""
    expires_in: Annotated[str, Field(max_length=16)] | None = None  # 90d, 12h, 2w...


def _unprocessable(field: str, msg: str) -> HTTPException:
    return HTTPException(422, [{"loc": ["body", field], "msg": msg, "type": "value_error"}])


@router.get("/keys", dependencies=[_admin])
async def get_keys(request: Request, all: bool = False) -> dict[str, Any]:
    found: list[KeyInfo] = await run_in_threadpool(
        lambda: list_keys(state(request).store, include_revoked=all)
    )
    return {"keys": [key.as_dict() for key in found]}


@router.post("/keys", status_code=201, dependencies=[_admin])
async def post_key(request: Request, body: KeyIn) -> dict[str, Any]:
    if body.scope not in SCOPES:
        raise _unprocessable("scope", f"scope must be one of {', '.join(SCOPES)}")
    try:
        lifetime = None if body.expires_in is None else parse_duration(body.expires_in)
    except ValueError as exc:
        raise _unprocessable("expires_in", str(exc)) from None
    store = state(request).store
    key = await run_in_threadpool(
        lambda: create_key(store, body.scope, body.name, expires_in_s=lifetime)
    )
    info = next(k for k in await run_in_threadpool(list_keys, store) if key.startswith(k.prefix))
    return {"key": key, **info.as_dict()}


@router.delete("/keys/{prefix}", dependencies=[_admin])
async def delete_key(request: Request, prefix: str) -> dict[str, Any]:
    st = state(request)
    try:
        found = await run_in_threadpool(revoke_key, st.store, prefix)
    except AmbiguousKey as exc:
        raise HTTPException(409, str(exc)) from None
    if found is None:
        raise HTTPException(404, "no key has that prefix")
    key_checker(st).forget()
    return found.as_dict()
