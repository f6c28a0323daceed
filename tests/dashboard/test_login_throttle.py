"""Login attempts are counted per address and per name, in the database, before hashing:
each test on SQLite and on PostgreSQL (``store``/``db_url``), whose upserts differ."""

from __future__ import annotations

import threading
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


def test_names_wait_after_ten_attempts_and_their_window_doubles(store: Store) -> None:
    """Per name: counted whatever the address; a window that ends over the limit doubles."""
    throttle = LoginThrottle(store, per_address=(100, 900), per_name=(10, 900))
    now = 1000.0
    for i in range(10):
        assert throttle.attempt(f"10.0.0.{i}", "ana", now) == 0
    assert throttle.attempt("10.0.0.99", "ANA ", now) == pytest.approx(900)  # names casefold
    assert throttle.attempt("10.0.0.1", "bob", now) == 0  # another name may still try
    now += 901  # the window ended over the limit: the next one is twice as long
    for _ in range(10):
        assert throttle.attempt("10.0.0.1", "ana", now) == 0
    assert throttle.attempt("10.0.0.1", "ana", now) == pytest.approx(1800)
    throttle.succeeded("ana")  # the right password clears the name
    assert throttle.attempt("10.0.0.1", "ana", now) == 0


def test_an_address_trying_many_names_is_stopped_too(store: Store) -> None:
    throttle = LoginThrottle(store, per_address=(20, 60), per_name=(10, 900))
    for i in range(20):
        assert throttle.attempt("10.0.0.9", f"user{i}", 5.0) == 0
    assert throttle.attempt("10.0.0.9", "someone-new", 5.0) == pytest.approx(60)
    assert throttle.attempt("10.0.0.8", "someone-new", 5.0) == 0


def test_counts_are_shared_through_the_database(db_url: str) -> None:
    """Two replicas (two stores on one database) add to the same counters."""
    one, two = Store(db_url), Store(db_url)
    try:
        first = LoginThrottle(one, per_address=(4, 900), per_name=(10, 900))
        second = LoginThrottle(two, per_address=(4, 900), per_name=(10, 900))
        for throttle in (first, second, first, second):
            assert throttle.attempt("10.0.0.1", "ana", 50.0) == 0
        assert second.attempt("10.0.0.1", "ana", 50.0) > 0
    finally:
        one.close()
        two.close()


def test_40_concurrent_attempts_on_one_name_let_exactly_the_limit_through(db_url: str) -> None:
    """40 threads over two replicas' stores, released at once, each from its own address
    for one name: the upsert counts atomically, so exactly PER_NAME may go on to the hash
    (check-then-act would let all 40 through), and then the address counters still hold."""
    replicas = [Store(db_url), Store(db_url)]
    throttles = [LoginThrottle(s, per_address=(20, 900), per_name=(10, 900)) for s in replicas]
    for throttle in throttles:  # each store's schema and pool are ready before the race
        assert throttle.attempt("10.9.9.9", "warm-up", 50.0) == 0
    start = threading.Barrier(40)
    waits: list[float] = []
    errors: list[BaseException] = []

    def attempt(i: int) -> None:
        try:
            start.wait(10)
            waits.append(throttles[i % 2].attempt(f"10.1.0.{i}", "ana", 50.0))
        except BaseException as exc:  # a deadlock or a serialisation error fails the test
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(40)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert len(waits) == 40
        assert waits.count(0) == 10
        assert all(w == pytest.approx(900) for w in waits if w)
        assert throttles[0].attempt("10.1.0.99", "bob", 50.0) == 0  # only the name is stopped
    finally:
        for replica in replicas:
            replica.close()


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


def test_the_login_form_answers_429_after_ten_wrong_passwords(http: httpx.Client) -> None:
    for _ in range(10):
        assert login(http, "ana", "wrong").status_code == 401
    r = login(http, "ana", PASSWORD)  # even the right password waits now
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 800
    assert "Too many failed logins" in r.text
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    assert http.get("/analytics/api/data").status_code == 401
