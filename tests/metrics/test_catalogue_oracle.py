"""Every catalogue metric equals the answer computed from the raw workload itself, over
several windows and filters, on SQLite and PostgreSQL (percentiles within the stated
relative error)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from workload import (
    BUDGET_USD,
    DAY,
    NOW,
    TOKEN_BUDGET,
    Event,
    Oracle,
    Query,
    as_payload,
    workload,
)

from chatwatch.config import Settings
from chatwatch.events import EVENT_TYPES, parse_events
from chatwatch.metrics import METRICS, Catalogue, Window, explicit_window
from chatwatch.sketch import RELATIVE_ERROR
from chatwatch.store import Filters, Store

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
PROCESS = {
    "server_cpu_percent",
    "server_memory_usage_mb",
    "server_memory_available_mb",
    "server_threads",
    "server_uptime_seconds",
}
WINDOWS = ("5m", "1h", "24h", "7d", "30d", "all", "recent", "old")
FILTERS = (
    Filters(),
    Filters(service="help"),
    Filters(model="llama-3.1-8b-instant"),
    Filters(user_type="premium"),
    Filters(channel="http"),
    Filters(service="shop", user_type="free", channel="websocket"),
    Filters(service="shop", model="house-model"),
)


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _window(cat: Catalogue, spec: str) -> Window:
    if spec == "recent":  # minute-aligned, inside the minute retention
        return explicit_window(_at(NOW - 3 * DAY + 1020), _at(NOW - DAY + 300))
    if spec == "old":  # past the minute retention: read from whole hours
        return explicit_window(_at(NOW - 20 * DAY - 2220), _at(NOW - 12 * DAY + 660))
    return cat.window(spec)


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return workload()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def catalogue(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, events: list[Event]
) -> Iterator[Catalogue]:
    """The workload ingested once per dialect, in time order, in batches, one sent twice."""
    url, dbname = _database(request.param, tmp_path_factory.mktemp("oracle"))
    settings = Settings(
        database_url=url,
        monthly_budget_usd=BUDGET_USD,
        monthly_token_budget=TOKEN_BUDGET,
        _env_file=None,  # type: ignore[call-arg]
    )
    store = Store(url)
    payload = as_payload(events)
    for start in range(0, len(payload), 400):
        store.ingest(parse_events(payload[start : start + 400]))
    assert store.ingest(parse_events(payload[800:1200])).accepted == 0
    yield Catalogue(store, settings, clock=lambda: NOW)
    store.close()
    if dbname:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def _database(dialect: str, folder: Path) -> tuple[str, str | None]:
    if dialect == "sqlite":
        return f"sqlite:///{folder / 'oracle.db'}", None
    name = f"cw_oracle_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=2) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError:
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", name


def _query(window: Window, f: Filters) -> Query:
    return Query(window.start, window.end, f.service, f.model, f.user_type, f.channel)


def _close(name: str, got: float | None, want: float | None) -> bool:
    if want is None or got is None:
        return got is want
    rel = RELATIVE_ERROR * 1.0001 if METRICS_BY_NAME[name].histogram else 1e-9
    return got == pytest.approx(want, rel=rel, abs=1e-9)


METRICS_BY_NAME = {m.name: m for m in METRICS}


def test_the_workload_is_big_and_varied(events: list[Event]) -> None:
    """Several thousand events of every type, over more than 30 days up to now."""
    assert len(events) > 5000
    assert {e["type"] for e in events} == set(EVENT_TYPES)
    assert min(e["ts"] for e in events) < NOW - 35 * DAY
    assert sum(e["ts"] > NOW - 300 for e in events) > 20


def test_every_metric_has_an_oracle(events: list[Event]) -> None:
    """A metric added to the catalogue without an independent answer fails here."""
    oracle = Oracle(events)
    answered = set(oracle.values(Query(0, int(NOW) + 60))) | PROCESS
    assert {m.name for m in METRICS} <= answered


@pytest.mark.parametrize("spec", WINDOWS)
def test_every_metric_equals_the_oracle(
    catalogue: Catalogue, events: list[Event], spec: str
) -> None:
    """All metrics, under each filter, equal the raw-event answer for this window."""
    oracle = Oracle(events)
    window = _window(catalogue, spec)
    wrong = []
    for f in FILTERS:
        want = oracle.values(_query(window, f))
        reading = catalogue.reading(window, f)
        for name in catalogue.metrics:
            if name in PROCESS:
                continue
            got = catalogue.value(name, reading)
            if not _close(name, got, want[name]):
                wrong.append((f, name, got, want[name]))
    assert not wrong, "\n".join(map(str, wrong))


@pytest.mark.parametrize("spec", ("1h", "30d", "old"))
def test_every_breakdown_equals_the_oracle(
    catalogue: Catalogue, events: list[Event], spec: str
) -> None:
    """Distributions and top lists (topics, errors, models, users) match, in order."""
    oracle = Oracle(events)
    window = _window(catalogue, spec)
    for f in FILTERS:
        want = oracle.breakdowns(_query(window, f))
        reading = catalogue.reading(window, f)
        for name in catalogue.breakdowns:
            got = catalogue.breakdown(name, reading)
            assert got == pytest.approx(want[name], rel=1e-9), (f, name)
            if name.startswith("top_"):
                assert list(got) == list(want[name]), (f, name)


def test_per_model_values_equal_the_oracle(catalogue: Catalogue, events: list[Event]) -> None:
    """``by_model`` gives each model's value as if filtered by that model."""
    oracle = Oracle(events)
    window = catalogue.window("30d")
    labelled = [m.name for m in METRICS if "model" in m.labels]
    for service in (None, "shop"):
        reading = catalogue.reading(window, Filters(service=service))
        for name in labelled:
            got = catalogue.by_model(name, reading)
            assert set(got) >= {"llama-3.1-8b-instant", "glm-4-plus"}
            for model, value in got.items():
                want = oracle.values(Query(window.start, window.end, service, model))[name]
                assert _close(name, value, want), (service, name, model, value, want)


def test_hourly_series_add_up_to_the_oracle(catalogue: Catalogue, events: list[Event]) -> None:
    """A chart's per-hour points are the metric over each hour."""
    oracle = Oracle(events)
    window = catalogue.window("24h")
    names = ["total_requests", "error_rate", "p95_response_time_ms", "llm_cost_usd"]
    rows = catalogue.table(names, window, 3600, Filters(service="shop"))
    assert len(rows) == 25
    for ts, values in rows:
        want = oracle.values(Query(ts, ts + 3600, service="shop"))
        for name in names:
            assert _close(name, values[name], want[name]), (ts, name, values[name], want[name])


def test_process_metrics_are_this_process(catalogue: Catalogue) -> None:
    """The server's CPU, memory, threads and uptime are read from this process (psutil)."""
    values = catalogue.values(catalogue.reading("5m"), PROCESS)
    assert values["server_memory_usage_mb"] is not None and values["server_memory_usage_mb"] > 10
    assert (values["server_memory_available_mb"] or 0) > 0
    assert values["server_threads"] is not None and values["server_threads"] >= 1
    assert values["server_uptime_seconds"] is not None and values["server_uptime_seconds"] > 0
    assert values["server_cpu_percent"] is not None and values["server_cpu_percent"] >= 0
