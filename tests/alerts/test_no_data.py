"""Unknown is not a miss: a turn's ``cached`` may be unrecorded, ratios divide by the
events that recorded their input, and a rule with no samples is in ``no data``."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from alert_helpers import T0, make_settings, turns
from typer.testing import CliRunner

from chatwatch.alerts import evaluate, parse_rules
from chatwatch.cli import app
from chatwatch.events import Turn
from chatwatch.metrics import Catalogue
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from chatwatch.store import Store


def _turn(i: int, at: float, cached: bool | None) -> Turn:
    return Turn(
        id=f"nd{i:06d}", ts=at, type="turn", service="api", response_time_ms=300.0, cached=cached
    )


def test_cache_hit_rate_divides_by_turns_that_recorded_it(sqlite_store: Store) -> None:
    """10 cached, 10 not cached, 80 not recorded: 50 %, over 20 samples; none recorded:
    no value at all."""
    at = time.time() - 30
    flags: list[bool | None] = [True] * 10 + [False] * 10 + [None] * 80
    sqlite_store.ingest([_turn(i, at, c) for i, c in enumerate(flags)])
    cat = Catalogue(sqlite_store, make_settings(str(sqlite_store.engine.url)))
    reading = cat.reading("1h")
    assert cat.value("cache_hit_rate", reading) == 50.0
    assert cat.value("cache_recorded_requests", reading) == 20
    assert cat.value("total_requests", reading) == 100
    sqlite_store.ingest([_turn(1000 + i, at - 7200, None) for i in range(50)])
    old = cat.reading("30m")
    assert cat.value("cache_hit_rate", cat.reading(cat.window("1h"))) == 50.0
    assert cat.value("total_requests", old) == 100
    empty = Store(f"sqlite:///{Path(str(sqlite_store.engine.url.database)).parent / 'e.db'}")
    try:
        empty.ingest([_turn(2000 + i, at, None) for i in range(60)])
        ecat = Catalogue(empty, cat.settings)
        assert ecat.value("cache_hit_rate", ecat.reading("1h")) is None
    finally:
        empty.close()


def test_a_turn_keeps_cached_absent_when_not_recorded(sqlite_store: Store) -> None:
    """The stored event holds no ``cached`` key when the app did not say."""
    sqlite_store.ingest([_turn(1, time.time(), None), _turn(2, time.time(), False)])
    with sqlite_store.read() as conn:
        rows = dict(conn.exec_driver_sql("SELECT id, data FROM events").fetchall())
    assert '"cached"' not in rows["nd000001"]
    assert '"cached":false' in rows["nd000002"].replace(" ", "")


RULE = {"name": "errors", "metric": "error_rate", "window": "5m", "min_samples": 10}


@pytest.mark.parametrize(
    ("mode", "after"), [("ok", "resolved"), ("keep", "firing"), ("alerting", "firing")]
)
def test_no_data_modes(db_url: str, mode: str, after: str) -> None:
    """A firing alert whose data stops: ``ok`` resolves it (after keep_firing_for),
    ``keep`` holds it firing, ``alerting`` keeps it firing at the top level."""
    store = Store(db_url)
    settings = make_settings(db_url)
    rules = parse_rules({"rules": [{**RULE, "no_data": mode, "warning": 5, "critical": 50}]})
    try:
        turns(store, T0 - 30, 40, failed=8)  # 20 %: warning
        first = evaluate(store, settings, rules, now=T0, deliver=False)
        assert [(s.state, s.level) for s in first.states] == [("firing", "warning")]
        later = evaluate(store, settings, rules, now=T0 + 900, deliver=False)
        (state,) = later.states
        assert state.state == after
        if mode == "alerting":
            assert state.level == "critical"
        if mode == "keep":
            assert state.value == pytest.approx(20.0)
        statuses = {e.status for e in later.evaluations}
        assert statuses == ({"resolved"} if mode == "ok" else {"firing"})
        if mode == "ok":  # the next round: nothing to watch, the rule shows no data
            again = evaluate(store, settings, rules, now=T0 + 960, deliver=False)
            assert {e.status for e in again.evaluations} == {"no data"}
    finally:
        store.close()


def test_rule_without_samples_is_no_data_and_pages_nobody(db_url: str) -> None:
    """An empty window: every rule in ``no data``, nothing stored, exit level ok."""
    store = Store(db_url)
    try:
        result = evaluate(store, make_settings(db_url), now=T0, deliver=False)
    finally:
        store.close()
    assert result.worst == "ok" and result.states == []
    by_rule = {e.rule: e.status for e in result.evaluations}
    assert by_rule["high_error_rate"] == "no data"
    assert by_rule["low_cache_hit_rate"] == "no data"


def test_guide_003_only_traffic_checks_ok(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_server: type
) -> None:
    """Guide 003's POST only (no cache parameter, RAG found 86 %): `chatwatch check` exits
    0 and prints the cache rule in ``no data``."""
    monkeypatch.chdir(tmp_path)
    for name in ("CHATWATCH_RULES_FILE", "CHATWATCH_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    db = f"sqlite:///{tmp_path / 'cw.db'}"
    application = create_app(make_settings(db, alerts_enabled=False))
    store: Store = application.state.chatwatch.store
    key = create_key(store, "ingest")
    server = make_server(application).start()
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as c:
            for i in range(100):
                params = {
                    "success": "true",
                    "response_time_ms": "640",
                    "rag_used": "true",
                    "rag_found": "true" if i % 50 >= 7 else "false",  # 86 %
                    "llm_tokens": "420",
                }
                assert c.post("/monitoring/chat/metrics", params=params).status_code == 200
    finally:
        server.stop()
        store.close()
    result = CliRunner().invoke(app, ["check", "--db", db])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: 0 firing; 0 pending;")
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert " no data " in lines["low_cache_hit_rate"]
    assert " ok " in lines["high_error_rate"] and "samples=100" in lines["high_error_rate"]
    assert "low_rag_success_rate" not in lines  # a KPI target, not a page


def test_the_server_shows_no_data_in_its_status(tmp_path: Path, make_server: type) -> None:
    """GET /api/v1/alerts/status lists every rule of the last round, ``no data`` included."""
    settings = make_settings(f"sqlite:///{tmp_path / 'cw.db'}", alert_evaluation_interval_s=0.1)
    application = create_app(settings)
    store: Store = application.state.chatwatch.store
    turns(store, time.time() - 30, 40)
    key = create_key(store, "read")
    server = make_server(application).start()
    try:
        deadline = time.monotonic() + 15
        body: dict[str, object] = {"rules": []}
        while not body["rules"] and time.monotonic() < deadline:
            time.sleep(0.1)
            body = httpx.get(
                f"{server.url}/api/v1/alerts/status", headers={"Authorization": f"Bearer {key}"}
            ).json()
    finally:
        server.stop()
        store.close()
    statuses = {(r["rule"], r["status"]) for r in body["rules"]}  # type: ignore[attr-defined]
    assert ("high_error_rate", "ok") in statuses
    assert ("low_cache_hit_rate", "no data") in statuses
