"""The auth matrix: every route of the app (read from ``app.routes``, so a new route cannot
be forgotten) by every credential, direct and through proxies, and a foreign Host.

Keyed routes: no key, a bad, revoked or expired key, or a dashboard cookie → 401 with
``WWW-Authenticate``; a key whose scope does not grant the route's group → 403 naming the
scope needed; one that does → past auth. Dashboard routes want the login cookie, never a
key. Only /healthz, /readyz and /monitoring/health (and the login form and its static
files) are open. One app per module, driven in-process through httpx's ASGITransport.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import update

from chatwatch.config import Settings
from chatwatch.dashboard.auth import SESSION_COOKIE, data_login, page_login
from chatwatch.dashboard.users import create_user
from chatwatch.server import create_app
from chatwatch.server.auth import Require
from chatwatch.server.keys import SCOPES, allows, create_key, revoke_key, scopes_for
from chatwatch.store import Store
from chatwatch.store.schema import api_keys

OPEN = {"/healthz", "/readyz", "/monitoring/health"}
# the dashboard's login form and its static files are open (they show no data)
DASHBOARD_OPEN = {"/login", "/static/{name}"}
BASES = ("/analytics", "/chat/analytics")
PARAMS = {
    "name": "dashboard.css",
    "silence_id": "no-such-silence",
    "prefix": "cw_read_nosuchkey",
    "session_id": "no-such-session",
    "run_id": "no-such-run",
}
PASSWORD = "correct horse battery"
EXTERNAL = ("203.0.113.7", 4000)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    kind: str  # "open", "dashboard-open", "dashboard", or "key"
    group: str = ""
    dev_open: bool = False  # the development switch may open it to loopback

    @property
    def url(self) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _api_routes(app: FastAPI) -> Iterator[tuple[APIRoute, str]]:
    """(route, full path) for every route, on FastAPI versions that nest included routers."""
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            for context in contexts():
                original = context.original_route
                yield original, context.path or getattr(original, "path", "")
        else:
            yield route, getattr(route, "path", "")  # type: ignore[misc]


def _calls(dependant: Any) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def endpoints(app: FastAPI) -> list[Endpoint]:
    found = []
    for route, path in _api_routes(app):
        methods = sorted(getattr(route, "methods", None) or [])
        dependant = getattr(route, "dependant", None)
        calls = list(_calls(dependant)) if dependant is not None else []
        checks = [call for call in calls if isinstance(call, Require)]
        groups = [check.group for check in checks]
        dash_path = next((path[len(b) :] for b in BASES if path.startswith(b + "/")), None)
        if path in OPEN:
            kind = "open"
        elif groups:
            kind = "key"
        elif dash_path in DASHBOARD_OPEN or path in BASES:  # BASES: redirects to BASE/
            kind = "dashboard-open"
        elif page_login in calls or data_login in calls:
            kind = "dashboard"
        else:
            kind = "unclassified"
        for method in methods:
            if method != "HEAD":
                group = groups[0] if groups else ""
                dev_open = bool(checks) and checks[0].open_on_loopback
                found.append(Endpoint(method, path, kind, group, dev_open))
    return found


@dataclass
class Matrix:
    app: FastAPI
    store: Store
    keys: dict[str, str]
    cookie: str
    endpoints: list[Endpoint]


def _login_cookie(app: FastAPI) -> str:
    async def run() -> str:
        transport = httpx.ASGITransport(app=app, client=EXTERNAL)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            form = await http.get("/analytics/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token is not None
            data = {"username": "ana", "password": PASSWORD, "csrf_token": token.group(1)}
            answer = await http.post("/analytics/login", data=data)
            assert answer.status_code == 303, answer.text
            return str(http.cookies[SESSION_COOKIE])

    return asyncio.run(run())


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    url = f"sqlite:///{tmp_path_factory.mktemp('matrix') / 'cw.db'}"
    settings = Settings(
        database_url=url, alerts_enabled=False, maintenance_interval_s=0, _env_file=None
    )  # type: ignore[call-arg]
    store = Store(url)
    app = create_app(settings, store)
    keys = {scope: create_key(store, scope, f"matrix {scope}") for scope in SCOPES}
    revoked = create_key(store, "admin", "revoked")
    assert revoke_key(store, revoked) is not None
    expired = create_key(store, "admin", "expired", expires_in_s=3600)
    with store.write() as conn:
        conn.execute(
            update(api_keys).where(api_keys.c.name == "expired").values(expires_at=time.time() - 1)
        )
    keys |= {"revoked": revoked, "expired": expired, "bad": "cw_admin_" + "x" * 32}
    create_user(store, "ana", PASSWORD)
    yield Matrix(app, store, keys, _login_cookie(app), endpoints(app))
    store.close()


async def _send(
    app: FastAPI,
    requests: list[tuple[Endpoint, dict[str, str]]],
    client: tuple[str, int] = EXTERNAL,
) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app, client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:

        async def one(endpoint: Endpoint, headers: dict[str, str]) -> httpx.Response:
            body = {} if endpoint.method in ("POST", "PUT", "PATCH") else None
            return await http.request(endpoint.method, endpoint.url, headers=headers, json=body)

        return list(await asyncio.gather(*(one(e, h) for e, h in requests)))


def test_every_route_is_classified(matrix: Matrix) -> None:
    """Each route is open on purpose, a dashboard page, or keyed with a known group."""
    unclassified = [str(e) for e in matrix.endpoints if e.kind == "unclassified"]
    assert unclassified == []
    assert {e.path for e in matrix.endpoints if e.kind == "open"} == OPEN
    assert len([e for e in matrix.endpoints if e.kind == "key"]) >= 20
    groups = {e.group for e in matrix.endpoints if e.kind == "key"}
    assert groups <= {"read", "ingest", "admin", "feedback", *SCOPES}
    for group in groups:  # every group is granted by some scope, admin by all
        assert allows("admin", group)


CREDENTIALS = ["none", "bad", "revoked", "expired", "cookie", *SCOPES]


@pytest.mark.parametrize("credential", CREDENTIALS)
def test_each_credential_on_every_route(matrix: Matrix, credential: str) -> None:
    if credential == "none":
        headers: dict[str, str] = {}
    elif credential == "cookie":
        headers = {"Cookie": f"{SESSION_COOKIE}={matrix.cookie}"}
    else:
        headers = {"Authorization": f"Bearer {matrix.keys[credential]}"}
    answers = asyncio.run(_send(matrix.app, [(e, headers) for e in matrix.endpoints]))
    wrong = []
    for endpoint, answer in zip(matrix.endpoints, answers, strict=True):
        status = answer.status_code
        to_login = status == 303 and "/login" in answer.headers.get("location", "")
        if answer.status_code >= 500:
            wrong.append(f"{endpoint}: {status}")
        elif endpoint.kind == "open":
            if status in (401, 403):
                wrong.append(f"{endpoint}: open route answered {status}")
        elif endpoint.kind == "dashboard-open":  # the login form: 403 is its CSRF check
            if status == 401 or to_login:
                wrong.append(f"{endpoint}: open route answered {status}")
        elif endpoint.kind == "dashboard":
            logged_in = credential == "cookie"
            refused = to_login or status == 401
            if refused == logged_in:  # a key never opens the dashboard; the cookie does
                wrong.append(f"{endpoint}: {status} with {credential}")
        elif credential in SCOPES and allows(credential, endpoint.group):
            if status in (401, 403):
                wrong.append(f"{endpoint}: {status} for a {credential} key: {answer.text}")
        elif credential in SCOPES:
            detail = answer.json().get("detail", "") if status == 403 else ""
            needed = "needs a key of scope " + " or ".join(scopes_for(endpoint.group))
            if status != 403 or needed not in detail:
                wrong.append(f"{endpoint}: {status} {detail!r} for a {credential} key")
        else:
            challenge = answer.headers.get("www-authenticate", "")
            if status != 401 or not challenge.startswith("Bearer"):
                wrong.append(f"{endpoint}: {status} {challenge!r} with {credential}")
    assert wrong == []


@pytest.mark.parametrize("peer", ["127.0.0.1", "::1"])
def test_default_settings_refuse_a_keyless_loopback_caller(matrix: Matrix, peer: str) -> None:
    """Closed by default: with no development switch a keyless caller on this very host
    gets 401 with a Bearer challenge on every keyed route (reads included), and the login
    page or 401 on every dashboard route; only the health routes answer it."""
    assert matrix.app.state.chatwatch.settings.dev_open_reads is False
    answers = asyncio.run(_send(matrix.app, [(e, {}) for e in matrix.endpoints], (peer, 5000)))
    wrong, keyed = [], 0
    for endpoint, answer in zip(matrix.endpoints, answers, strict=True):
        status = answer.status_code
        challenge = answer.headers.get("www-authenticate", "")
        to_login = status == 303 and "/login" in answer.headers.get("location", "")
        if endpoint.kind == "open":
            if status != 200:
                wrong.append(f"{endpoint}: health route answered {status}")
        elif endpoint.kind == "key":
            keyed += 1
            if status != 401 or not challenge.startswith("Bearer"):
                wrong.append(f"{endpoint}: {status} {challenge!r} for a keyless loopback caller")
        elif endpoint.kind == "dashboard" and not (to_login or status == 401):
            wrong.append(f"{endpoint}: dashboard answered {status} without a login")
    assert wrong == []
    assert keyed >= 20 and any(e.method == "GET" and e.dev_open for e in matrix.endpoints)


def test_wrong_scope_names_the_scope_needed(matrix: Matrix) -> None:
    (metrics,) = [e for e in matrix.endpoints if e.path == "/monitoring/metrics"]
    headers = {"Authorization": f"Bearer {matrix.keys['ingest']}"}
    (answer,) = asyncio.run(_send(matrix.app, [(metrics, headers)]))
    assert answer.status_code == 403
    assert answer.json()["detail"].startswith("this route needs a key of scope read or admin")


README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_routes() -> dict[tuple[str, str], set[str]]:
    """(method, path with ``{}`` for each parameter) -> the keys the README's route table
    names for it (``none``: open); a cell's method carries on to the paths after it."""
    text = README.read_text()
    table = text[text.index("| route | key | what |") :]
    table = table[: table.index("\n\n")]
    out: dict[tuple[str, str], set[str]] = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        keys = set(re.findall(r"[a-z]+", cells[1].split("(")[0])) & {*SCOPES, "none"}
        method = ""
        for chunk in re.findall(r"`([^`]+)`", cells[0]):
            m = re.fullmatch(r"(?:([A-Z]+) )?(/\S*)", chunk)
            assert m, chunk
            method = m.group(1) or method
            path = re.sub(r"\{\w+\}", "{}", m.group(2))
            out[(method, path)] = keys
    return out


def test_the_readme_names_the_key_of_every_route(matrix: Matrix) -> None:
    """Every keyed and open route is in the README's route table with the scopes that may
    use it (admin aside: it may use all), so the table cannot fall behind the app."""
    documented = _readme_routes()
    wrong = []
    for e in matrix.endpoints:
        if e.kind not in ("key", "open"):
            continue
        key = (e.method, re.sub(r"\{\w+\}", "{}", e.path))
        if e.kind == "open":
            expected = {"none"}
        else:
            expected = set(scopes_for(e.group)) - {"admin"} or {"admin"}
        if documented.get(key) != expected:
            wrong.append(f"{e}: README says {documented.get(key)}, the app {sorted(expected)}")
    assert wrong == []


# -- behind proxies, with the development switch on --------------------------------------


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    """dev_open_reads on (so the proxy decision matters), 10.0.0.0/8 trusted."""
    url = f"sqlite:///{tmp_path_factory.mktemp('proxied') / 'cw.db'}"
    settings = Settings(
        database_url=url,
        alerts_enabled=False,
        maintenance_interval_s=0,
        dev_open_reads=True,
        trusted_proxies=["10.0.0.0/8"],
        _env_file=None,
    )  # type: ignore[call-arg]
    store = Store(url)
    app = create_app(settings, store)
    keys = {"read": create_key(store, "read")}
    yield Matrix(app, store, keys, "", endpoints(app))
    store.close()


def _keyed(matrix: Matrix) -> list[Endpoint]:
    return [e for e in matrix.endpoints if e.kind == "key"]


def _open_reads(endpoints: list[Endpoint]) -> set[str]:
    return {str(e) for e in endpoints if e.method == "GET" and e.dev_open}


@pytest.mark.parametrize(
    ("case", "peer", "forwarded"),
    [
        ("direct from loopback", "127.0.0.1", None),
        ("direct from elsewhere", "203.0.113.5", None),
        ("behind a trusted proxy", "10.0.0.2", "203.0.113.9"),
        ("trusted proxy saying loopback", "10.0.0.2", "127.0.0.1"),
        ("behind an untrusted proxy on this host", "127.0.0.1", "203.0.113.9"),
        ("spoofed X-Forwarded-For", "203.0.113.5", "127.0.0.1"),
    ],
)
def test_keyless_reads_open_only_to_loopback_without_a_proxy(
    proxied: Matrix, case: str, peer: str, forwarded: str | None
) -> None:
    """The development switch opens GET reads to a loopback caller that came through no
    proxy; writes and admin routes need a key from everywhere."""
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    keyed = _keyed(proxied)
    answers = asyncio.run(_send(proxied.app, [(e, headers) for e in keyed], (peer, 5000)))
    passed = {str(e) for e, a in zip(keyed, answers, strict=True) if a.status_code != 401}
    expected = _open_reads(keyed) if case == "direct from loopback" else set()
    assert passed == expected
    assert expected or case != "direct from loopback"


def test_a_key_works_through_a_trusted_proxy(proxied: Matrix) -> None:
    reads = [e for e in _keyed(proxied) if e.group == "read"]
    headers = {"X-Forwarded-For": "198.51.100.1", "Authorization": f"Bearer {proxied.keys['read']}"}
    answers = asyncio.run(_send(proxied.app, [(e, headers) for e in reads], ("10.0.0.2", 1)))
    assert [a.status_code for a in answers if a.status_code in (401, 403)] == []


@pytest.mark.parametrize("host", ["evil.example", "chatwatch.attacker.test:8000", "[::2]", ""])
def test_a_foreign_host_is_refused_on_every_route_but_health(proxied: Matrix, host: str) -> None:
    """DNS rebinding: a Host this server was not told about gets 400, even with a key."""
    headers = {"Host": host, "Authorization": f"Bearer {proxied.keys['read']}"}
    answers = asyncio.run(
        _send(proxied.app, [(e, headers) for e in proxied.endpoints], ("127.0.0.1", 1))
    )
    for endpoint, answer in zip(proxied.endpoints, answers, strict=True):
        if endpoint.kind == "open":
            assert answer.status_code < 500, endpoint
        else:
            assert answer.status_code == 400, (endpoint, answer.status_code)
            assert "Host" in answer.json()["detail"]


def test_known_hosts_are_served(proxied: Matrix) -> None:
    (metrics,) = [e for e in proxied.endpoints if e.path == "/monitoring/metrics"]
    auth = {"Authorization": f"Bearer {proxied.keys['read']}"}
    for host in ("localhost", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST"):
        (answer,) = asyncio.run(_send(proxied.app, [(metrics, {**auth, "Host": host})]))
        assert answer.status_code == 200, host
