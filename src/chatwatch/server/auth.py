"""Request authorisation by API key: ``Authorization: Bearer <key>`` (or ``Token <key>``,
the form guide 000's export uses).

Closed by default: every route but health needs a key whose scope grants the route's
group (``chatwatch.server.keys.SCOPE_GROUPS``). No key, or a bad, revoked or expired one
→ 401 with ``WWW-Authenticate``; a good key of the wrong scope → 403 naming the scope
needed. ``dev_open_reads`` (development only) lets a loopback client that came through
no proxy read keyless; writes always need a key.
"""

from __future__ import annotations

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from chatwatch.server.keys import ApiKey, KeyChecker, allows, scopes_for
from chatwatch.server.proxy import VIA_PROXY
from chatwatch.server.state import AppState, state

__all__ = ["Require", "bearer_key", "is_loopback", "key_checker", "require"]

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_READ_METHODS = {"GET", "HEAD"}
_REALM = 'Bearer realm="chatwatch"'


def bearer_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        return value.strip()
    return None


def is_loopback(request: Request) -> bool:
    """A caller on this machine that came through no proxy (its own or a trusted one)."""
    if request.scope.get(VIA_PROXY) or "x-forwarded-for" in request.headers:
        return False
    return request.client is not None and request.client.host in _LOOPBACK


def key_checker(st: AppState) -> KeyChecker:
    checker = st.extras.get("key_checker")
    if checker is None:
        checker = st.extras["key_checker"] = KeyChecker(st.store)
    assert isinstance(checker, KeyChecker)
    return checker


class Require:
    """A dependency: a key whose scope grants ``group`` (see ``SCOPE_GROUPS``)."""

    def __init__(
        self, group: str, *, open_on_loopback: bool = True, public_if: str | None = None
    ) -> None:
        self.group = group
        # reads only: whether the development switch may open this route to loopback
        self.open_on_loopback = open_on_loopback and group in ("read", "summary")
        self.public_if = public_if  # a boolean setting that opens this route to everyone

    async def __call__(self, request: Request) -> ApiKey | None:
        key = bearer_key(request)
        st = state(request)
        if self.public_if is not None and getattr(st.settings, self.public_if):
            return None
        if key is None:
            if (
                self.open_on_loopback
                and st.settings.dev_open_reads
                and request.method in _READ_METHODS
                and is_loopback(request)
            ):
                return None
            raise HTTPException(
                401, f"an API key is required ({self.needed()})", {"WWW-Authenticate": _REALM}
            )
        checker = key_checker(st)
        hit, found = checker.cached(key)
        if not hit:
            found = await run_in_threadpool(checker.check, key)
        if found is None:
            raise HTTPException(
                401,
                "invalid, revoked or expired API key",
                {"WWW-Authenticate": f'{_REALM}, error="invalid_token"'},
            )
        if not allows(found.scope, self.group):
            raise HTTPException(
                403,
                f"this route needs {self.needed()}; the key {found.prefix}… has scope "
                f"{found.scope}",
            )
        return found

    def needed(self) -> str:
        return "a key of scope " + " or ".join(scopes_for(self.group))


def require(group: str, *, open_on_loopback: bool = True, public_if: str | None = None) -> Require:
    """The dependency for routes of ``group`` (read, ingest, feedback, admin...)."""
    return Require(group, open_on_loopback=open_on_loopback, public_if=public_if)
