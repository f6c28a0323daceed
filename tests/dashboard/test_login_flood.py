"""Logins that cannot be flooded, and sessions that end: concurrent wrong passwords are
counted before hashing (at most the limit checked), hashes run a few at a time, logout and
a new password end every session of the user, cookies are Secure behind TLS."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from _workload import PASSWORD, login, page_csrf

from chatwatch.config import Settings
from chatwatch.dashboard import auth
from chatwatch.dashboard.auth import SESSION_COOKIE, hash_pool
from chatwatch.dashboard.throttle import PER_ADDRESS, PER_NAME, HashPool, PoolBusy
from chatwatch.dashboard.users import create_user, set_password
from chatwatch.server import create_app
from chatwatch.store import Store
from live_server import LiveServer
from module_db import DIALECTS, throwaway_db


@dataclass
class Served:
    url: str
    store: Store
    live: LiveServer
    checked: list[str]


@pytest.fixture
def served(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_server: type,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Served]:
    """The real server (trusting 127.0.0.1 as a proxy), counting the passwords it checks;
    on SQLite unless a test asks for a dialect (``indirect`` over ``DIALECTS``)."""
    with throwaway_db(getattr(request, "param", "sqlite"), tmp_path) as url:
        yield from _served(url, make_server, monkeypatch)


def _served(url: str, make_server: type, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    settings = Settings(
        database_url=url,
        alerts_enabled=False,
        maintenance_interval_s=0,
        trusted_proxies=["127.0.0.1"],
        _env_file=None,
    )  # type: ignore[call-arg]
    store = Store(url)
    create_user(store, "ana", PASSWORD)
    checked: list[str] = []
    real = auth.verify_user

    def counting(store: Store, username: str, password: str) -> Any:
        checked.append(username)
        return real(store, username, password)

    monkeypatch.setattr(auth, "verify_user", counting)
    live = make_server(create_app(settings, store)).start()
    yield Served(live.url, store, live, checked)
    live.stop()
    store.close()


async def _form(http: httpx.AsyncClient) -> str:
    form = await http.get("/analytics/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    return token.group(1)


def _flood(
    url: str,
    n: int,
    body: Callable[[int], dict[str, str]],
    headers: Callable[[int], dict[str, str]],
) -> list[int]:
    async def run() -> list[int]:
        limits = httpx.Limits(max_connections=n)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
            token = await _form(http)  # one form's token and cookie serve every post

            async def one(i: int) -> int:
                data = {"csrf_token": token, "next": "", **body(i)}
                answer = await http.post("/analytics/login", data=data, headers=headers(i))
                return answer.status_code

            return list(await asyncio.gather(*(one(i) for i in range(n))))

    return asyncio.run(run())


@pytest.mark.parametrize("served", DIALECTS, indirect=True)
def test_40_concurrent_wrong_logins_check_at_most_the_limit(served: Served) -> None:
    """40 at once for one name, each from another (proxied) address: at most PER_NAME are
    hashed, the rest are refused before hashing; then even the right password waits. The
    hash pool is widened here so that all 40 reach the shared counter at once. On SQLite
    and PostgreSQL: the counter is each dialect's upsert."""
    st = served.live.app.state.chatwatch
    st.extras["login_hash_pool"] = HashPool(workers=4, pending=40)
    statuses = _flood(
        served.url,
        40,
        lambda i: {"username": "ana", "password": f"wrong-{i}"},
        lambda i: {"X-Forwarded-For": f"198.51.100.{i + 1}"},
    )
    limit = PER_NAME[0]
    assert len(served.checked) <= limit
    assert statuses.count(401) == len(served.checked) >= 1
    assert statuses.count(429) == 40 - len(served.checked)
    with httpx.Client(base_url=served.url, timeout=10) as http:
        again = login(http, "ana")
        assert again.status_code == 429 and int(again.headers["retry-after"]) > 60
    assert len(served.checked) <= limit


@pytest.mark.parametrize("served", DIALECTS, indirect=True)
def test_one_address_is_stopped_across_names(served: Served) -> None:
    """The same address trying 40 names: at most PER_ADDRESS checked; another real client
    behind the proxy still gets its password checked."""
    statuses = _flood(
        served.url,
        40,
        lambda i: {"username": f"user{i}", "password": "wrong-password"},
        lambda i: {"X-Forwarded-For": "203.0.113.50"},
    )
    assert len(served.checked) <= PER_ADDRESS[0]
    assert statuses.count(429) >= 40 - PER_ADDRESS[0]
    another = {"X-Forwarded-For": "203.0.113.51"}
    with httpx.Client(base_url=served.url, timeout=10, headers=another) as http:
        assert login(http, "ana", "still-wrong").status_code == 401


def test_a_cookie_replayed_after_logout_gets_the_login_page(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=10, follow_redirects=False) as one:
        assert login(one, "ana").status_code == 303
        kept = one.cookies[SESSION_COOKIE]
        with httpx.Client(base_url=served.url, timeout=10, follow_redirects=False) as two:
            assert login(two, "ana").status_code == 303  # a second session of the same user
            other = two.cookies[SESSION_COOKIE]
            token = page_csrf(one.get("/analytics/").text)
            assert one.post("/analytics/logout", data={"csrf_token": token}).status_code == 303
    for cookie in (kept, other):  # both sessions ended, in the database
        with httpx.Client(base_url=served.url, timeout=10, follow_redirects=False) as replay:
            replay.cookies.set(SESSION_COOKIE, cookie)
            page = replay.get("/analytics/")
            assert page.status_code == 303 and "/analytics/login" in page.headers["location"]
            assert replay.get("/analytics/api/data").status_code == 401


def test_a_new_password_ends_every_session(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=10, follow_redirects=False) as http:
        assert login(http, "ana").status_code == 303
        assert http.get("/analytics/").status_code == 200
        assert set_password(served.store, "ana", "another long password")
        assert http.get("/analytics/").status_code == 303


def test_cookies_are_secure_when_the_public_url_or_the_proxy_says_https(
    tmp_path: Path, make_server: type
) -> None:
    url = f"sqlite:///{tmp_path / 'cw.db'}"
    store = Store(url)
    create_user(store, "ana", PASSWORD)

    def cookie(settings: dict[str, Any], headers: dict[str, str]) -> str:
        """The session cookie's Set-Cookie (cookies are sent back by hand: a Secure one
        would not be over this plain-HTTP test connection)."""
        full = Settings(database_url=url, alerts_enabled=False, _env_file=None, **settings)  # type: ignore[call-arg]
        live = make_server(create_app(full, store)).start()
        try:
            with httpx.Client(base_url=live.url, timeout=10, headers=headers) as http:
                form = http.get("/analytics/login")
                token = page_csrf(form.text)
                csrf = form.headers["set-cookie"].split(";")[0]
                http.cookies.clear()
                data = {"username": "ana", "password": PASSWORD, "csrf_token": token}
                answer = http.post("/analytics/login", data=data, headers={"Cookie": csrf})
                assert answer.status_code == 303, answer.text
                return next(
                    v
                    for k, v in answer.headers.multi_items()
                    if k == "set-cookie" and v.startswith(SESSION_COOKIE)
                )
        finally:
            live.stop()

    assert "secure" not in cookie({}, {}).lower()
    assert "Secure" in cookie({"public_url": "https://chat.example.com"}, {})
    proxied = {"trusted_proxies": ["127.0.0.1"]}
    assert "Secure" in cookie(proxied, {"X-Forwarded-Proto": "https"})
    assert "secure" not in cookie({}, {"X-Forwarded-Proto": "https"}).lower()  # not trusted
    store.close()


def test_the_hash_pool_admits_a_few_and_refuses_the_rest() -> None:
    pool = HashPool(workers=2, pending=3)
    gate = threading.Event()

    async def run() -> list[str]:
        async def one() -> str:
            try:
                return await pool.run(lambda: "done" if gate.wait(10) else "timeout")
            except PoolBusy:
                return "busy"

        tasks = [asyncio.ensure_future(one()) for _ in range(10)]
        await asyncio.sleep(0.2)
        gate.set()
        return list(await asyncio.gather(*tasks))

    results = asyncio.run(run())
    assert results.count("done") == 3 and results.count("busy") == 7
    assert pool.peak == 3
    pool.close()


def test_the_app_has_one_hash_pool(served: Served) -> None:
    st = served.live.app.state.chatwatch
    assert hash_pool(st) is hash_pool(st)
