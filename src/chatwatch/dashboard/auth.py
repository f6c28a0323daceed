"""Dashboard logins: a signed session cookie, CSRF tokens, and the login/logout pages.

The session cookie (HttpOnly, SameSite=Lax, Secure whenever the request or the public
URL is https) holds the user id, a fingerprint of the password hash, the user's session
generation (logout and a new password raise it in the database, which ends every session
of that user on every replica) and the CSRF token every form of that login must send
back. Before login, the login form's token is checked against a separate signed cookie
(double submit). Attempts are counted before the password is hashed, and hashed on a
small pool of their own (``throttle``). Keys: see ``secret``.
"""

from __future__ import annotations

import hmac
import math
import secrets
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool

from chatwatch.dashboard.secret import secret_key
from chatwatch.dashboard.templating import templates
from chatwatch.dashboard.throttle import HashPool, LoginThrottle, PoolBusy
from chatwatch.dashboard.users import User, end_sessions, get_user, verify_user
from chatwatch.server.proxy import public_url
from chatwatch.server.state import AppState, state
from chatwatch.store import Store

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "SESSION_MAX_AGE",
    "Login",
    "check_csrf",
    "data_login",
    "login_router",
    "page_login",
]

SESSION_COOKIE = "chatwatch_session"
CSRF_COOKIE = "chatwatch_login_csrf"
SESSION_MAX_AGE = 14 * 86400
_LOGIN_CSRF_MAX_AGE = 3600


@dataclass(frozen=True)
class Login:
    user: User
    csrf: str


class _Signer:
    def __init__(self, key: str) -> None:
        self.session = URLSafeTimedSerializer(key, salt="chatwatch.dashboard.session")
        self.csrf = URLSafeTimedSerializer(key, salt="chatwatch.dashboard.login-csrf")


def _signer(st: AppState) -> _Signer:
    signer = st.extras.get("dashboard_signer")
    if signer is None:
        signer = st.extras["dashboard_signer"] = _Signer(secret_key(st.settings, st.store))
    assert isinstance(signer, _Signer)
    return signer


def base_of(request: Request) -> str:
    """The prefix the dashboard was reached under: ``/analytics`` or ``/chat/analytics``."""
    path = request.url.path
    return "/chat/analytics" if path.startswith("/chat/analytics") else "/analytics"


def _secure(request: Request) -> bool:
    st = state(request)
    return request.url.scheme == "https" or public_url(st.settings).startswith("https://")


def _read_login(request: Request) -> Login | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    st = state(request)
    try:
        payload = _signer(st).session.loads(cookie, max_age=SESSION_MAX_AGE)
        user_id, fingerprint, csrf = int(payload["u"]), str(payload["f"]), str(payload["c"])
        generation = int(payload["g"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    user = get_user(st.store, user_id)
    if user is None or not hmac.compare_digest(user.fingerprint, fingerprint):
        return None
    if user.generation != generation:  # logged out, or the password changed
        return None
    return Login(user, csrf)


async def optional_login(request: Request) -> Login | None:
    return await run_in_threadpool(_read_login, request)


async def page_login(request: Request) -> Login:
    """For pages: without a login, a redirect to the login page (back here afterwards)."""
    login = await optional_login(request)
    if login is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        location = f"{base_of(request)}/login?next={quote(target, safe='')}"
        raise HTTPException(303, "login required", {"Location": location})
    return login


async def data_login(request: Request) -> Login:
    """For data URLs: 401 without a login."""
    login = await optional_login(request)
    if login is None:
        raise HTTPException(401, "login required")
    return login


def check_csrf(login: Login, token: str | None) -> None:
    if not token or not hmac.compare_digest(login.csrf, token):
        raise HTTPException(403, "invalid or missing CSRF token; reload the page")


def _safe_next(base: str, target: str | None) -> str:
    """Only a path inside the dashboard, so the login page cannot redirect elsewhere."""
    home = f"{base}/"
    if not target or "\\" in target or "//" in target:
        return home
    if target.startswith(("/analytics/", "/chat/analytics/")):
        return target
    return home


def _login_page(
    request: Request,
    next_url: str,
    error: str | None = None,
    status: int = 200,
    username: str = "",
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    context = {"base": base_of(request), "csrf": token, "next": next_url, "error": error}
    response = templates.TemplateResponse(
        request, "login.html", {**context, "username": username}, status_code=status
    )
    signed = _signer(state(request)).csrf.dumps(token)
    response.set_cookie(
        CSRF_COOKIE,
        signed,
        max_age=_LOGIN_CSRF_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _login_csrf_ok(request: Request, token: str) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not token:
        return False
    try:
        expected = _signer(state(request)).csrf.loads(cookie, max_age=_LOGIN_CSRF_MAX_AGE)
    except BadSignature:
        return False
    return isinstance(expected, str) and hmac.compare_digest(expected, token)


def _set_session(request: Request, response: Response, user: User) -> None:
    payload: dict[str, Any] = {
        "u": user.id,
        "f": user.fingerprint,
        "g": user.generation,
        "c": secrets.token_urlsafe(32),
    }
    response.set_cookie(
        SESSION_COOKIE,
        _signer(state(request)).session.dumps(payload),
        max_age=SESSION_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )


def _throttle(st: AppState) -> LoginThrottle:
    throttle = st.extras.get("login_throttle")
    if throttle is None:
        throttle = st.extras["login_throttle"] = LoginThrottle(st.store)
    assert isinstance(throttle, LoginThrottle)
    return throttle


def hash_pool(st: AppState) -> HashPool:
    """The app's few threads for password hashes (never the API-key or ingest threads)."""
    pool = st.extras.get("login_hash_pool")
    if pool is None:
        pool = st.extras["login_hash_pool"] = HashPool()
    assert isinstance(pool, HashPool)
    return pool


def _check(
    throttle: LoginThrottle, store: Store, address: str, username: str, password: str
) -> tuple[float, User | None]:
    """On the login pool: count the attempt, then (if allowed) hash the password."""
    wait = throttle.attempt(address, username)
    if wait > 0:
        return wait, None
    return 0.0, verify_user(store, username, password)


_BUSY_PAGE = (
    "<!doctype html><title>chatwatch: busy</title>"
    "<p>Too many logins at once; <a href='login'>try again</a> in a few seconds.</p>"
)


def _busy() -> Response:
    """The cheap 429 a flood gets: no template, no cookie, no database."""
    headers = {"Retry-After": "1", "Cache-Control": "no-store"}
    return HTMLResponse(_BUSY_PAGE, status_code=429, headers=headers)


async def _too_many(request: Request, target: str, wait: float, username: str) -> Response:
    minutes = max(1, math.ceil(wait / 60))
    error = f"Too many failed logins; try again in {minutes} minute(s)."
    page = await run_in_threadpool(_login_page, request, target, error, 429, username[:64])
    page.headers["Retry-After"] = str(math.ceil(wait))
    return page


def login_router(base: str) -> APIRouter:
    router = APIRouter(prefix=base, include_in_schema=False)

    @router.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request, next: str | None = None) -> Response:
        target = _safe_next(base, next)
        if await optional_login(request) is not None:
            return RedirectResponse(target, 303)
        return await run_in_threadpool(_login_page, request, target)

    @router.post("/login", response_class=HTMLResponse)
    async def login_submit(
        request: Request,
        username: Annotated[str, Form(max_length=256)] = "",
        password: Annotated[str, Form(max_length=1024)] = "",
        csrf_token: Annotated[str, Form(max_length=256)] = "",
        next: Annotated[str, Form(max_length=2048)] = "",
    ) -> Response:
        target = _safe_next(base, next)
        if not _login_csrf_ok(request, csrf_token):
            error = "Your login form expired; please try again."
            return await run_in_threadpool(_login_page, request, target, error, 403)
        st = state(request)
        throttle = _throttle(st)
        address = request.client.host if request.client is not None else ""
        # one of a few slots on the login pool, else 429 at once (nothing counted or
        # hashed); then the attempt is counted before the hash, atomically in the database
        try:
            wait, user = await hash_pool(st).run(
                lambda: _check(throttle, st.store, address, username, password)
            )
        except PoolBusy:
            return _busy()
        if wait > 0:
            return await _too_many(request, target, wait, username)
        if user is None:
            error = "Wrong username or password."
            return await run_in_threadpool(_login_page, request, target, error, 401, username[:64])
        await run_in_threadpool(throttle.succeeded, username)
        response = RedirectResponse(target, 303)
        _set_session(request, response, user)
        response.delete_cookie(CSRF_COOKIE)
        return response

    @router.post("/logout")
    async def logout(
        request: Request,
        login: Annotated[Login, Depends(page_login)],
        csrf_token: Annotated[str, Form(max_length=256)] = "",
    ) -> Response:
        check_csrf(login, csrf_token)
        await run_in_threadpool(end_sessions, state(request).store, login.user.id)
        response = RedirectResponse(f"{base}/login", 303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return router
