"""Evaluation inside `chatwatch serve`, and one evaluator at a time on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alert_helpers import T0, Receiver, make_settings, running_receiver, turns

from chatwatch.alerts import RulesError, evaluate, evaluation_lock, parse_rules
from chatwatch.server import create_app
from chatwatch.store import Store
from live_server import bearer


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as rec:
        yield rec


RULES = parse_rules(
    {"rules": [{"name": "errors", "metric": "error_rate", "window": "5m", "min_samples": 10}]}
)


def test_server_evaluates_in_the_background(
    db_url: str, make_server: type, receiver: Receiver
) -> None:
    """The server's loop evaluates every interval: the alert appears in the API and the
    webhook receives it once."""
    settings = make_settings(
        db_url, alert_evaluation_interval_s=0.2, alert_webhook_urls=[receiver.url]
    )
    app = create_app(settings)
    store: Store = app.state.chatwatch.store
    turns(store, time.time() - 20, 40, failed=8)
    server = make_server(app).start()
    read = bearer(store, "read")
    try:
        deadline = time.monotonic() + 15
        alerts: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            alerts = httpx.get(f"{server.url}/api/v1/alerts", headers=read).json()["alerts"]
            if alerts and receiver.bodies:
                break
            time.sleep(0.1)
        assert [(a["rule"], a["state"], a["level"]) for a in alerts] == [
            ("high_error_rate", "firing", "critical")
        ]
        time.sleep(0.5)  # a couple more rounds: still one delivery
        assert len(receiver.bodies) == 1
        assert receiver.bodies[0]["commonLabels"]["alertname"] == "high_error_rate"
    finally:
        server.stop()
        store.close()


@pytest.mark.postgres
def test_one_evaluator_at_a_time(pg_url: str) -> None:
    """While one process holds the advisory lock, another's round is skipped and reports
    the stored states."""
    first, second = Store(pg_url), Store(pg_url)
    try:
        turns(first, T0, 20, failed=4)
        settings = make_settings(pg_url)
        assert evaluate(first, settings, RULES, now=T0 + 10).worst == "critical"
        turns(first, T0 + 60, 20, failed=0)
        with evaluation_lock(first) as held:
            assert held
            skipped = evaluate(second, settings, RULES, now=T0 + 70)
            assert skipped.skipped and skipped.transitions == 0 and skipped.groups == []
            assert skipped.worst == "critical"
        done = evaluate(second, settings, RULES, now=T0 + 70)
        assert not done.skipped and done.worst == "warning"  # 4 of 40 turns: 10 %
    finally:
        first.close()
        second.close()


def test_bad_rules_refuse_to_start(tmp_path: Path) -> None:
    """A server with an invalid rules file does not start; the error names rule and field."""
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - name: slow\n    metric: avg_response_time_ms\n    for: later\n")
    settings = make_settings(f"sqlite:///{tmp_path / 'cw.db'}", rules_file=bad)
    with pytest.raises(RulesError, match=r"rule 'slow'.*field 'for'"):
        create_app(settings)


def test_check_leaves_process_rules_to_the_server(sqlite_store: Store) -> None:
    """`check` (process_rules=False) neither evaluates nor retires rules on process memory."""
    rules = parse_rules(
        {"rules": [{"name": "mem", "metric": "server_memory_usage_mb", "warning": 1, "by": []}]}
    )
    settings = make_settings(sqlite_store.engine.url.render_as_string(hide_password=False))
    served = evaluate(sqlite_store, settings, rules, now=T0)
    assert served.worst == "warning"  # this process surely uses more than 1 MB
    checked = evaluate(sqlite_store, settings, rules, now=T0 + 60, process_rules=False)
    assert checked.transitions == 0 and checked.worst == "warning"
