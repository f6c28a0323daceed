"""10 000 distinct models and 10 000 services sent to the real server: the label caps keep
``/metrics`` under 1 MB, ``/api/v1/metrics`` and one alert round to a series or state per
capped value, and every event is still counted (under ``other`` past the caps). On SQLite
and PostgreSQL, one server each. How long they take is measured by bench/cardinality.py."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chatwatch.alerts import evaluate, load_rules
from chatwatch.config import Settings
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from live_server import LiveServer

N = 10_000


class Cardinal:
    def __init__(self, server: LiveServer, settings: Settings, read: str) -> None:
        self.server = server
        self.settings = settings
        self.headers = {"Authorization": f"Bearer {read}"}

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.server.url + path, headers=self.headers, timeout=60)


def _events(now: float) -> Iterator[list[dict[str, Any]]]:
    """Per service ``svc-i``: a session, a turn and an LLM call of model ``model-i``."""
    batch: list[dict[str, Any]] = []
    for i in range(N):
        common = {"ts": now - 900 + i * 0.05, "service": f"svc-{i}", "session_id": f"s{i}"}
        batch += [
            {**common, "id": uuid.uuid4().hex, "type": "session_started"},
            {
                **common,
                "id": uuid.uuid4().hex,
                "type": "turn",
                "response_time_ms": 300,
                "model": f"model-{i}",
                "topic": f"topic-{i}",
            },
            {
                **common,
                "id": uuid.uuid4().hex,
                "type": "llm_call",
                "latency_ms": 200,
                "model": f"model-{i}",
                "input_tokens": 10,
                "output_tokens": 5,
            },
        ]
        if len(batch) >= 6000:
            yield batch
            batch = []
    if batch:
        yield batch


@pytest.fixture(scope="module")
def cardinal(module_db: str) -> Iterator[Cardinal]:
    settings = Settings(  # type: ignore[call-arg]
        database_url=module_db, alerts_enabled=False, _env_file=None
    )
    app = create_app(settings)
    store = app.state.chatwatch.store
    ingest = create_key(store, "ingest", "load")
    read = create_key(store, "read", "load")
    server = LiveServer(app).start()
    now = time.time()
    with httpx.Client(headers={"Authorization": f"Bearer {ingest}"}, timeout=120) as client:
        for batch in _events(now):
            response = client.post(server.url + "/api/v1/events", json=batch)
            assert response.status_code == 202, response.text
    yield Cardinal(server, settings, read)
    server.stop()
    store.close()


def test_every_event_is_counted_past_the_caps(cardinal: Cardinal) -> None:
    """All 10 000 calls and turns are counted; models and services past the caps are
    counted under ``other`` and the caps are what ``/metrics`` reports."""
    body = cardinal.get("/api/v1/metrics?window=1h").json()
    assert body["metrics"]["llm_calls"]["value"] == N
    assert body["metrics"]["total_requests"]["value"] == N
    by_model = body["by_model"]["llm_calls"]
    cap = cardinal.settings.max_models
    assert len(by_model) == cap + 1
    assert by_model["other"] == N - cap
    assert len(body["breakdowns"]["top_topics"]) == 10
    text = cardinal.get("/metrics").text
    me = cardinal.settings.service_name
    max_services = float(cardinal.settings.max_services)
    assert f'chat_label_cap{{label="service",service="{me}"}} {max_services}' in text
    assert f'chat_label_values{{label="model",service="{me}"}} {float(cap)}' in text
    services = {
        line.split('service="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("chat_requests_total{")
    }
    assert len(services) == cardinal.settings.max_services + 1 and "other" in services


def test_metrics_scrape_is_small(cardinal: Cardinal) -> None:
    """``/metrics`` stays under 1 MB with a service label per capped value, not per
    value sent (its time is bench/cardinality.py's: tests do not time things)."""
    response = cardinal.get("/metrics")
    assert response.status_code == 200
    assert len(response.content) < 1_000_000
    services = {
        line.split('service="')[1].split('"')[0]
        for line in response.text.splitlines()
        if 'service="' in line and not line.startswith("#")
    }
    assert len(services) <= cardinal.settings.max_services + 2  # + other, + the server's own


def test_catalogue_read_is_bounded(cardinal: Cardinal) -> None:
    """``/api/v1/metrics`` (every metric, per model, breakdowns) holds a series per capped
    model, however many were sent."""
    response = cardinal.get("/api/v1/metrics?window=24h")
    assert response.status_code == 200
    cap = cardinal.settings.max_models
    for metric, series in response.json()["by_model"].items():
        assert len(series) <= cap + 1, metric


def test_alert_round_keeps_bounded_states(cardinal: Cardinal) -> None:
    """One evaluation of every shipped rule keeps at most a state per rule and capped
    label value, not one per service or model sent."""
    store = cardinal.server.app.state.chatwatch.store
    rules = load_rules(None)
    result = evaluate(store, cardinal.settings, rules, deliver=False)
    assert not result.skipped
    per_rule: dict[str, int] = {}
    for state in result.states:
        per_rule[state.rule] = per_rule.get(state.rule, 0) + 1
    bound = max(cardinal.settings.max_services, cardinal.settings.max_models) + 1
    assert per_rule and max(per_rule.values()) <= bound, per_rule
