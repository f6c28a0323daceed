"""Failed logins are throttled per address and name, without locking others out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _workload import PASSWORD, login

from chatwatch.config import Settings
from chatwatch.dashboard.auth import SESSION_COOKIE
from chatwatch.dashboard.throttle import LoginThrottle
from chatwatch.dashboard.users import create_user
from chatwatch.server import create_app
from chatwatch.store import Store


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_five_failures_make_that_pair_wait_until_the_window_moves() -> None:
    clock = Clock()
    throttle = LoginThrottle(limit=5, window_s=900, clock=clock)
    for _ in range(4):
        throttle.failed("10.0.0.1", "ana")
        clock.now += 10
    assert throttle.retry_after("10.0.0.1", "ana") == 0
    throttle.failed("10.0.0.1", "ANA")  # names compare without case
    assert throttle.retry_after("10.0.0.1", "ana") == pytest.approx(900 - 40)
    assert throttle.retry_after("10.0.0.2", "ana") == 0  # another address may still try
    assert throttle.retry_after("10.0.0.1", "bob") == 0  # as may this one for another name
    clock.now += 900 - 40
    assert throttle.retry_after("10.0.0.1", "ana") == 0  # the first failure left the window


def test_an_address_trying_many_names_is_stopped_too() -> None:
    clock = Clock()
    throttle = LoginThrottle(limit=2, window_s=60, clock=clock)
    for i in range(8):
        throttle.failed("10.0.0.9", f"user{i}")
    assert throttle.retry_after("10.0.0.9", "someone-new") == pytest.approx(60)
    assert throttle.retry_after("10.0.0.8", "someone-new") == 0


def test_a_success_clears_the_pair_and_memory_is_bounded() -> None:
    throttle = LoginThrottle(limit=2, window_s=60, max_keys=10, clock=Clock())
    throttle.failed("a", "ana")
    throttle.succeeded("a", "ana")
    throttle.failed("a", "ana")
    assert throttle.retry_after("a", "ana") == 0  # one failure since the success
    for i in range(50):
        throttle.failed(f"10.1.0.{i}", "ana")
    assert len(throttle._failures) <= 10


@pytest.fixture
def http(tmp_path: Path, make_server: type) -> Iterator[httpx.Client]:
    url = f"sqlite:///{tmp_path / 'cw.db'}"
    settings = Settings(
        database_url=url, alerts_enabled=False, maintenance_interval_s=0, _env_file=None
    )  # type: ignore[call-arg]
    store = Store(url)
    create_user(store, "ana", PASSWORD)
    server = make_server(create_app(settings, store)).start()
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=10) as client:
        yield client
    server.stop()
    store.close()


def test_the_login_form_answers_429_after_five_wrong_passwords(http: httpx.Client) -> None:
    for _ in range(5):
        assert login(http, "ana", "wrong").status_code == 401
    r = login(http, "ana", PASSWORD)  # even the right password waits now
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 800
    assert "Too many failed logins" in r.text
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    assert http.get("/analytics/api/data").status_code == 401
