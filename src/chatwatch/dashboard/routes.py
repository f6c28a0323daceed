"""The dashboard's URLs, answered under ``/analytics/`` and ``/chat/analytics/`` (guide 000).

Pages need a login (else a redirect to the login page); data URLs answer 401 without
one; every POST carries the login's CSRF token. Numbers come from ``data`` (the
catalogue); this module only routes, checks and renders.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from chatwatch.dashboard import alerts_view
from chatwatch.dashboard.auth import Login, check_csrf, data_login, login_router, page_login
from chatwatch.dashboard.data import build_data
from chatwatch.dashboard.session_view import session_view
from chatwatch.dashboard.sessions_view import parse_page_query, sessions_view
from chatwatch.dashboard.templating import STATIC, STATIC_FILES, templates
from chatwatch.server.monitoring import ReadingParams
from chatwatch.server.reads import run_read
from chatwatch.server.session_doc import run_doc, session_doc
from chatwatch.server.state import state
from chatwatch.store.session_query import BadCursor

__all__ = ["BASES", "SECURITY_HEADERS", "router"]

BASES = ("/analytics", "/chat/analytics")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

PageLogin = Annotated[Login, Depends(page_login)]
DataLogin = Annotated[Login, Depends(data_login)]
Params = Annotated[ReadingParams, Depends()]
Csrf = Annotated[str, Form(max_length=256)]


def _secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def _back(base: str, next_url: str) -> str:
    """Back to the overview (keeping its query) and nowhere else."""
    return next_url if next_url.startswith(f"{base}/") and "//" not in next_url else f"{base}/"


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    response = templates.TemplateResponse(request, name, context, status_code=status)
    return _secured(response)


def _overview(base: str) -> Any:
    async def overview(request: Request, login: PageLogin, params: Params) -> Response:
        cat = state(request).catalogue
        error = None
        try:
            reading = params.reading(cat)
        except HTTPException as exc:  # a bad range in the address: show the default
            error = exc.detail[0]["msg"] if isinstance(exc.detail, list) else str(exc.detail)
            reading = ReadingParams().reading(cat)
        data = await run_read(request, build_data, cat, reading, base)
        context = {"base": base, "login": login, "data": data, "error": error}
        return _page(request, "overview.html", context)

    return overview


def _api_data(base: str) -> Any:
    async def api_data(request: Request, _login: DataLogin, params: Params) -> Response:
        cat = state(request).catalogue
        reading = params.reading(cat)
        data = await run_read(request, build_data, cat, reading, base)
        return _secured(JSONResponse(data))

    return api_data


def _session(base: str) -> Any:
    async def session(
        request: Request,
        login: PageLogin,
        service: Annotated[str, Query(min_length=1, max_length=64)],
        id: Annotated[str, Query(min_length=1, max_length=128)],
        run: Annotated[str | None, Query(max_length=64)] = None,
    ) -> Response:
        view = await run_in_threadpool(session_view, state(request).store, service, id)
        context = {
            "base": base,
            "login": login,
            "view": view,
            "service": service,
            "id": id,
            "highlight": run,
            "json_href": f"{base}/session.json?{urlencode({'service': service, 'id': id})}",
        }
        return _page(request, "session.html", context, 200 if view else 404)

    return session


def _session_json(base: str) -> Any:
    async def session_json(
        request: Request,
        _login: DataLogin,
        service: Annotated[str, Query(min_length=1, max_length=64)],
        id: Annotated[str, Query(min_length=1, max_length=128)],
    ) -> Response:
        doc = await run_in_threadpool(session_doc, state(request).store, service, id)
        if doc is None:
            raise HTTPException(404, f"id: no session {id!r} in {service!r}")
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in id)[:80]
        headers = {"Content-Disposition": f'attachment; filename="session-{name}.json"'}
        return _secured(JSONResponse(doc, headers=headers))

    return session_json


def _sessions(base: str) -> Any:
    async def sessions(request: Request, login: PageLogin) -> Response:
        f, sort, cursor, error = parse_page_query(dict(request.query_params))
        store = state(request).store
        try:
            view = await run_in_threadpool(sessions_view, store, base, f, sort, cursor)
        except BadCursor as exc:
            error = f"cursor: {exc}; showing the first page"
            view = await run_in_threadpool(sessions_view, store, base, f, sort, None)
        context = {"base": base, "login": login, "view": view, "error": error, "nav": "sessions"}
        return _page(request, "sessions.html", context)

    return sessions


def _run(base: str) -> Any:
    async def run(
        request: Request, login: PageLogin, run_id: Annotated[str, Path(max_length=64)]
    ) -> Response:
        store = state(request).store
        doc = await run_in_threadpool(run_doc, store, run_id)
        if doc is None or doc["session_id"] is None:
            context = {"base": base, "login": login, "view": None, "service": "", "id": run_id}
            context["missing_run"] = run_id
            return _page(request, "session.html", context, 404)
        service, sid = doc["service"], doc["session_id"]
        view = await run_in_threadpool(session_view, store, service, sid)
        number = next((t.number for t in view["turns"] if t.run_id == run_id), 1) if view else 1
        query = urlencode({"service": service, "id": sid, "run": run_id})
        return RedirectResponse(f"{base}/session?{query}#run-{number}", 303)

    return run


def _silence(base: str) -> Any:
    async def silence(
        request: Request,
        login: PageLogin,
        csrf_token: Csrf = "",
        fingerprint: Annotated[str, Form(min_length=1, max_length=64)] = "",
        hours: Annotated[int, Form(ge=1, le=24 * 30)] = 4,
        comment: Annotated[str, Form(max_length=500)] = "",
        next: Annotated[str, Form(max_length=2048)] = "",
    ) -> Response:
        check_csrf(login, csrf_token)
        store, user = state(request).store, login.user.username
        try:
            await run_in_threadpool(
                alerts_view.silence, store, fingerprint, hours, user, comment.strip()
            )
        except LookupError as exc:
            raise HTTPException(404, f"fingerprint: {exc}") from None
        return RedirectResponse(_back(base, next), 303)

    return silence


def _expire(base: str) -> Any:
    async def expire(
        request: Request,
        login: PageLogin,
        csrf_token: Csrf = "",
        silence_id: Annotated[str, Form(min_length=1, max_length=64)] = "",
        next: Annotated[str, Form(max_length=2048)] = "",
    ) -> Response:
        check_csrf(login, csrf_token)
        try:
            await run_in_threadpool(alerts_view.expire, state(request).store, silence_id)
        except LookupError as exc:
            raise HTTPException(404, f"silence_id: {exc}") from None
        return RedirectResponse(_back(base, next), 303)

    return expire


async def _static(name: str) -> Response:
    media = STATIC_FILES.get(name)
    if media is None:
        raise HTTPException(404, "no such file")
    response = FileResponse(STATIC / name, media_type=media)
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _routes(base: str) -> APIRouter:
    r = APIRouter(prefix=base, include_in_schema=False)

    async def to_slash() -> Response:
        return RedirectResponse(f"{base}/", 308)

    r.add_api_route("", to_slash, methods=["GET"])
    r.add_api_route("/", _overview(base), methods=["GET"], response_class=HTMLResponse)
    r.add_api_route("/api/data", _api_data(base), methods=["GET"])
    r.add_api_route("/session", _session(base), methods=["GET"], response_class=HTMLResponse)
    r.add_api_route("/session.json", _session_json(base), methods=["GET"])
    r.add_api_route("/sessions", _sessions(base), methods=["GET"], response_class=HTMLResponse)
    r.add_api_route("/r/{run_id}", _run(base), methods=["GET"])
    r.add_api_route("/alerts/silence", _silence(base), methods=["POST"])
    r.add_api_route("/alerts/expire", _expire(base), methods=["POST"])
    r.add_api_route("/static/{name}", _static, methods=["GET"])
    return r


def _router() -> APIRouter:
    combined = APIRouter(include_in_schema=False)
    for base in BASES:
        combined.include_router(_routes(base))
        combined.include_router(login_router(base))
    return combined


router = _router()
