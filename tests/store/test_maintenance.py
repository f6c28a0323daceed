"""Compaction and retention delete exactly the expired rows, never change an answer, and
are safe to run from several processes at once."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from chatwatch.cli import app as cli
from chatwatch.config import Settings
from chatwatch.events import parse_events
from chatwatch.metrics import Catalogue, explicit_window
from chatwatch.server import create_app
from chatwatch.store import Filters, Store
from chatwatch.store.maintenance import (
    Plan,
    count_expired,
    plan_from_settings,
    run_from_settings,
    run_maintenance,
)
from chatwatch.store.rollup import DAY, HOUR, MINUTE
from chatwatch.store.schema import events, rollup_hist, rollups, sessions

NOW = datetime(2026, 11, 10, 12, 30, 27, tzinfo=UTC).timestamp()
WINDOWS = ("1h", "24h", "7d", "30d", "all")


def _events(days: int = 45, n: int = 1500, now: float = NOW, seed: int = 1) -> list[dict[str, Any]]:
    """Sessions with a turn, an LLM call and a RAG search, spread over ``days`` to ``now``."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(n):
        ts = now - rng.uniform(1, days * DAY)
        common = {"service": rng.choice(("a", "b")), "session_id": f"s{i}", "user_type": "free"}
        steps: list[tuple[str, dict[str, Any]]] = [
            ("session_started", {"channel": "websocket"}),
            ("turn", {"response_time_ms": rng.lognormvariate(7, 0.8), "model": "glm-4"}),
            ("llm_call", {"model": "glm-4", "latency_ms": rng.uniform(100, 3000)}),
            ("rag_search", {"similarity": 0.6, "results": 2, "search_time_ms": rng.uniform(5, 80)}),
        ]
        for offset, (kind, fields) in enumerate(steps):
            stamp = datetime.fromtimestamp(min(ts + offset, now - 1), UTC).isoformat()
            out.append({"id": f"e{i}-{kind}", "ts": stamp, "type": kind, **common, **fields})
    return out


def _settings(url: str, **kw: Any) -> Settings:
    return Settings(database_url=url, _env_file=None, **kw)  # type: ignore[call-arg]


def _count(store: Store, query: Any) -> int:
    with store.read() as conn:
        return int(conn.execute(query).scalar() or 0)


def _minutes_before(store: Store, table: Any, cutoff: int) -> int:
    return _count(store, select(func.count()).where(table.c.res == MINUTE, table.c.bucket < cutoff))


def _answers(cat: Catalogue) -> dict[str, dict[str, float | None]]:
    windows = [cat.window(w) for w in WINDOWS]
    windows.append(
        explicit_window(
            datetime.fromtimestamp(NOW - 20 * DAY - 1234, UTC),
            datetime.fromtimestamp(NOW - 9 * DAY + 777, UTC),
        )
    )
    out = {}
    for w in windows:
        for f in (Filters(), Filters(service="a", model="glm-4")):
            out[f"{w.start}-{w.end}-{f}"] = cat.values(cat.reading(w, f), _WINDOWED)
    return out


_WINDOWED = [
    "total_requests",
    "avg_response_time_ms",
    "p50_response_time_ms",
    "p95_response_time_ms",
    "p99_response_time_ms",
    "llm_calls",
    "llm_p95_latency_ms",
    "llm_cost_usd",
    "rag_searches",
    "rag_p95_search_time_ms",
    "sessions",
    "month_cost_usd",
]


@pytest.fixture
def loaded(db_url: str) -> tuple[Store, Settings]:
    store = Store(db_url)
    store.ingest(parse_events(_events(n=800)))
    return store, _settings(db_url)


def test_compaction_and_retention_delete_exactly_the_expired_rows(
    loaded: tuple[Store, Settings],
) -> None:
    """Minute rows before the cutoff, events and sessions past the retention; nothing else."""
    store, settings = loaded
    plan = plan_from_settings(store, settings, NOW)
    assert plan.minute_cutoff == int(NOW - 7 * DAY) // HOUR * HOUR
    assert plan.event_cutoff == NOW - 30 * DAY
    expired = count_expired(store, plan)
    assert expired.minute_rollups > 0 and expired.events > 0 and expired.sessions > 0
    kept_events = _count(store, select(func.count()).where(events.c.ts >= plan.event_cutoff))
    coarse = _count(store, select(func.count()).where(rollups.c.res != MINUTE))
    recent = _count(
        store,
        select(func.count()).where(rollups.c.res == MINUTE, rollups.c.bucket >= plan.minute_cutoff),
    )

    result = run_from_settings(store, settings, NOW)

    assert (result.minute_rollups, result.minute_histograms) == (
        expired.minute_rollups,
        expired.minute_histograms,
    )
    assert (result.events, result.sessions) == (expired.events, expired.sessions)
    assert result.done and not result.skipped
    assert _minutes_before(store, rollups, plan.minute_cutoff) == 0
    assert _minutes_before(store, rollup_hist, plan.minute_cutoff) == 0
    assert _count(store, select(func.count()).where(rollups.c.res != MINUTE)) == coarse
    assert (
        _count(
            store,
            select(func.count()).where(
                rollups.c.res == MINUTE, rollups.c.bucket >= plan.minute_cutoff
            ),
        )
        == recent
    )
    assert _count(store, select(func.count()).select_from(events)) == kept_events
    assert _count(store, select(func.min(events.c.ts))) >= plan.event_cutoff
    assert _count(store, select(func.min(sessions.c.last_seen))) >= plan.event_cutoff
    assert count_expired(store, plan).deleted == 0
    assert run_from_settings(store, settings, NOW).deleted == 0
    store.close()


def test_reads_over_compacted_ranges_give_the_same_answers(
    loaded: tuple[Store, Settings],
) -> None:
    """Every window, before and after maintenance, answers the same (all from rollups)."""
    store, settings = loaded
    cat = Catalogue(store, settings, clock=lambda: NOW)
    before = _answers(cat)
    assert sum(bool(v["total_requests"]) for v in before.values()) >= 8
    run_from_settings(store, settings, NOW)
    fresh = Store(settings.database_url, cache_ttl_s=0)  # nothing remembered from before
    after = _answers(Catalogue(fresh, settings, clock=lambda: NOW))
    assert after.keys() == before.keys()
    for key, values in before.items():
        for name, value in values.items():
            got = after[key][name]
            assert got == value if value is None else got == pytest.approx(value, rel=1e-12)
    fresh.close()
    store.close()


def test_batches_stop_at_max_batches_and_resume(sqlite_url: str) -> None:
    """A bounded round leaves the rest for the next one; the rounds add up."""
    store = Store(sqlite_url)
    store.ingest(parse_events(_events(n=400)))
    plan = Plan(store.minute_cutoff(NOW), NOW - 30 * DAY, batch_rows=100)
    expired = count_expired(store, plan)
    first = run_maintenance(store, plan, max_batches=3)
    assert not first.done and first.deleted == 300
    rest = run_maintenance(store, plan)
    assert rest.done and first.deleted + rest.deleted == expired.deleted
    store.close()


@pytest.mark.postgres
def test_a_held_lock_makes_other_runners_skip(pg_url: str) -> None:
    """While one process holds the advisory lock, another deletes nothing and says so."""
    store = Store(pg_url)
    store.ingest(parse_events(_events(n=200)))
    plan = plan_from_settings(store, _settings(pg_url), NOW)
    expired = count_expired(store, plan)
    assert expired.deleted > 0
    other = Store(pg_url)
    with other.write() as conn:
        assert conn.execute(text("SELECT pg_try_advisory_xact_lock(727100002)")).scalar()
        result = run_maintenance(store, plan)
        assert result.skipped and result.deleted == 0
    assert count_expired(store, plan) == expired
    assert run_maintenance(store, plan).deleted == expired.deleted
    other.close()
    store.close()


@pytest.mark.postgres
def test_concurrent_runners_on_postgresql_delete_each_row_once(pg_url: str) -> None:
    """Four processes' worth of runners at once: no error, everything expired is gone."""
    seed = Store(pg_url)
    seed.ingest(parse_events(_events(n=800)))
    plan = Plan(seed.minute_cutoff(NOW), NOW - 30 * DAY, batch_rows=200)
    expired = count_expired(seed, plan)
    stores = [Store(pg_url) for _ in range(4)]
    results: list[Any] = []
    errors: list[BaseException] = []

    def runner(store: Store) -> None:
        try:
            while True:
                result = run_maintenance(store, plan)
                results.append(result)
                if not result.skipped:
                    return
                time.sleep(0.01)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=runner, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert sum(r.deleted for r in results) == expired.deleted
    assert count_expired(seed, plan).deleted == 0
    for s in [seed, *stores]:
        s.close()


def test_the_server_runs_maintenance_in_the_background(sqlite_url: str, make_server: Any) -> None:
    """With an interval set, the server deletes expired events without being asked."""
    now = time.time()
    settings = _settings(sqlite_url, maintenance_interval_s=1)
    app = create_app(settings)
    store = app.state.chatwatch.store
    store.ingest(parse_events(_events(n=150, now=now)))
    old = select(func.count()).where(events.c.ts < now - 30 * DAY)
    assert _count(store, old) > 0
    server = make_server(app).start()
    deadline = time.monotonic() + 10
    while _count(store, old) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _count(store, old) == 0
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    server.stop()
    store.close()


def test_cli_maintenance_runs_once_and_reports(sqlite_url: str) -> None:
    """`chatwatch maintenance` counts, deletes and prints what it deleted; --dry-run only counts."""
    store = Store(sqlite_url)
    store.ingest(parse_events(_events(n=300, now=time.time())))
    old = select(func.count()).where(events.c.ts < time.time() - 30 * DAY)
    expired = _count(store, old)
    runner = CliRunner()
    dry = runner.invoke(cli, ["maintenance", "--db", sqlite_url, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would delete" in dry.output and f"{expired:,}" in dry.output
    assert _count(store, old) == expired
    done = runner.invoke(cli, ["maintenance", "--db", sqlite_url, "--batch-rows", "50"])
    assert done.exit_code == 0, done.output
    assert "deleted" in done.output
    assert _count(store, old) == 0
    bad = runner.invoke(cli, ["maintenance", "--db", sqlite_url, "--batch-rows", "0"])
    assert bad.exit_code != 0 and "batch-rows" in bad.output
    store.close()


def _usage_call(i: int, ts: float, user: str) -> dict[str, Any]:
    stamp = datetime.fromtimestamp(ts, UTC).isoformat()
    return {
        "id": f"u{i}",
        "ts": stamp,
        "type": "llm_call",
        "service": "api",
        "user_id": user,
        "model": "m",
        "input_tokens": 100,
        "output_tokens": 10 * i,
        "cost_usd": 0.5,
        "latency_ms": 100.0,
    }


@pytest.mark.parametrize("retention_days", [40, 7])
def test_user_usage_expires_with_the_events_but_keeps_thirty_days(
    db_url: str, retention_days: int
) -> None:
    """Usage hours older than the retention go; a retention shorter than 30 days still keeps
    what a 30-day per-user limit reads, so that limit is the same figure after maintenance."""
    from chatwatch.store.maintenance import USAGE_KEEP_S
    from chatwatch.store.schema import user_usage

    store = Store(db_url)
    ages = [1, 5, 10, 20, 29, 35, 45, 60]  # days back from NOW
    calls = [
        _usage_call(i, NOW - age * DAY, "ana" if i % 2 else "bo") for i, age in enumerate(ages)
    ]
    store.ingest(parse_events(calls))
    settings = _settings(db_url, event_retention_days=retention_days)
    cat = Catalogue(store, settings, clock=lambda: NOW)

    def limits() -> dict[str, float | None]:
        return cat.by_user("user_llm_tokens", cat.reading("30d"))

    before = limits()
    # an independent recomputation from the raw calls: those of the last 30 days
    expected: dict[str, float] = {}
    for i, age in enumerate(ages):
        if age < 30:
            user = "ana" if i % 2 else "bo"
            expected[user] = expected.get(user, 0) + 100 + 10 * i
    assert before == expected
    result = run_from_settings(store, settings, now=NOW)
    keep = max(retention_days * DAY, USAGE_KEEP_S)
    hours = [int(h) for h in _rows(store, select(user_usage.c.hour))]
    gone = [age for age in ages if age * DAY > keep + HOUR]
    assert result.user_usage == len(gone)
    assert len(hours) == len(ages) - len(gone)
    assert min(hours) >= (NOW - keep) // HOUR * HOUR
    assert limits() == expected
    store.close()


def _rows(store: Store, query: Any) -> list[Any]:
    with store.read() as conn:
        return list(conn.execute(query).scalars())
