"""Request authorisation by API key: ``Authorization: Bearer <key>`` (or ``Token <key>``,
the form guide 000's export uses)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from chatwatch.server.keys import ApiKey, Scope, allows, verify_key
from chatwatch.server.state import state

__all__ = ["bearer_key", "is_loopback", "require"]

_LOOPBACK = {"127.0.0.1", "::1", "localhost", "testclient"}


def bearer_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        return value.strip()
    return None


def is_loopback(request: Request) -> bool:
    return request.client is not None and request.client.host in _LOOPBACK


def require(scope: Scope, *, open_on_loopback: bool = True) -> Callable[..., object]:
    """A dependency: a key with ``scope``, or (when allowed) a keyless loopback caller."""

    async def check(request: Request) -> ApiKey | None:
        key = bearer_key(request)
        st = state(request)
        if key is None:
            if open_on_loopback and st.settings.open_on_loopback and is_loopback(request):
                return None
            raise HTTPException(401, "an API key is required", {"WWW-Authenticate": "Bearer"})
        found = await run_in_threadpool(verify_key, st.store, key)
        if found is None:
            raise HTTPException(401, f"a valid {scope} API key is required")
        if not allows(found.scope, scope):
            raise HTTPException(403, f"this {found.scope} key may not do this: {scope} needed")
        return found

    return check
