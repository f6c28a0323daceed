"""Bounded reads: at most 2 000 buckets per series, ``all`` from the first stored event,
the dashboard's ``all`` and a year-1-to-9999 range answered in under 2 s, and a read
whose client leaves stops. On SQLite and PostgreSQL, one server each."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from _workload import PASSWORD, fill_traffic, login

from chatwatch.config import Settings
from chatwatch.dashboard import charts
from chatwatch.dashboard.users import create_user
from chatwatch.metrics import Catalogue
from chatwatch.metrics.window import MAX_BUCKETS, Window, capped_step, parse_window
from chatwatch.server import create_app
from chatwatch.store import Store
from live_server import LiveServer

DAY = 86400
NOW = time.time()


@pytest.fixture(scope="module")
def served(module_db: str) -> Iterator[tuple[httpx.Client, Store]]:
    """A logged-in client of the real server holding a small workload of today."""
    settings = Settings(  # type: ignore[call-arg]
        database_url=module_db,
        alerts_enabled=False,
        maintenance_interval_s=0,
        _env_file=None,
    )
    store = Store(settings.database_url)
    assert fill_traffic(store, NOW, hours=3) > 0
    create_user(store, "ana", PASSWORD)
    server = LiveServer(create_app(settings, store)).start()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        login(http, "ana")
        yield http, store
    server.stop()
    store.close()


def test_steps_coarsen_past_the_bucket_cap() -> None:
    """Minutes, hours, days, then whole numbers of days: never more than 2 000 buckets."""
    assert capped_step(Window(0, 3600, "x"), 60) == 60
    assert capped_step(Window(0, 2000 * 60, "x"), 60) == 60
    assert capped_step(Window(0, 2001 * 60, "x"), 60) == 3600
    assert capped_step(Window(0, 100 * DAY, "x"), 60) == DAY
    year1, year9999 = datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)
    huge = Window(int(year1.timestamp()), int(year9999.timestamp()), "x")
    step = capped_step(huge, DAY)
    assert step % DAY == 0 and -(-huge.seconds // step) <= MAX_BUCKETS


def test_all_starts_at_the_first_stored_event(served: tuple[httpx.Client, Store]) -> None:
    """``window=all`` begins on the first stored day, not in 1970; an empty store's
    ``all`` is the current minute."""
    _, store = served
    first = store.first_bucket()
    assert first is not None and NOW - 2 * DAY < first <= NOW
    window = Catalogue(store, Settings(_env_file=None)).window("all")  # type: ignore[call-arg]
    assert window.start == int(first)
    empty = parse_window("all", NOW)
    assert empty.seconds == 60


def test_a_series_over_centuries_has_at_most_2000_buckets_and_every_count(
    served: tuple[httpx.Client, Store],
) -> None:
    """A year-1-to-9999 table sums daily rollups into its coarse buckets: nothing lost."""
    _, store = served
    cat = Catalogue(store, Settings(_env_file=None))  # type: ignore[call-arg]
    year1 = int(datetime(1, 1, 1, tzinfo=UTC).timestamp())
    year9999 = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp())
    window = Window(year1, year9999, "custom")
    rows = cat.table(["sessions", "total_requests"], window, 60)
    assert len(rows) <= MAX_BUCKETS
    expected = cat.values(cat.reading(window), ["sessions", "total_requests"])
    assert sum(r["sessions"] or 0 for _, r in rows) == expected["sessions"] > 0
    assert sum(r["total_requests"] or 0 for _, r in rows) == expected["total_requests"] > 0


@pytest.mark.parametrize(
    "params",
    [{"window": "all"}, {"start": "0001-01-01T00:00:00Z", "end": "9999-12-31T00:00:00Z"}],
    ids=["all", "year-1-to-9999"],
)
def test_dashboard_long_ranges_answer_in_under_2_s(
    served: tuple[httpx.Client, Store], params: dict[str, str]
) -> None:
    """The dashboard's data for ``all`` and for eight millennia: one bucketed read."""
    http, _ = served
    best = float("inf")
    for _ in range(2):  # the best of two: the machine is shared
        start = time.monotonic()
        response = http.get("/analytics/api/data", params=params)
        best = min(best, time.monotonic() - start)
        assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    sessions = next(c for c in body["charts"] if c["kind"] == "time")
    assert 0 < len(sessions["x"]) <= MAX_BUCKETS
    assert best < 2.0


def test_a_read_whose_client_leaves_stops(
    served: tuple[httpx.Client, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that gives up after 0.5 s: the server's read stops within a bucket or
    two instead of reading its remaining buckets for nobody."""
    http, store = served
    monkeypatch.setattr(charts, "_READINGS_MAX", 10**9)  # a reading per day: slow on purpose
    reads = 0
    original = store.aggregate_by

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        time.sleep(0.01)
        return original(*args, **kwargs)

    monkeypatch.setattr(store, "aggregate_by", counted)
    params = {"start": "2000-01-01T00:00:00Z", "end": "2005-01-01T00:00:00Z"}  # 1 827 days
    with pytest.raises(httpx.ReadTimeout):
        http.get("/analytics/api/data", params=params, timeout=0.5)
    time.sleep(1.0)  # the disconnect is noticed within POLL_S, the read stops at a check
    settled = reads
    time.sleep(1.0)
    assert reads == settled, "the read went on after its client left"
    assert reads < 1827
    assert http.get("/analytics/api/data", params={"window": "1h"}).status_code == 200
