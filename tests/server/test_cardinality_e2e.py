"""10 000 distinct models and 10 000 services sent to the real server: the label caps keep
``/metrics`` under 1 s and 1 MB, ``/api/v1/metrics`` and one alert round under 1 s, and
every event is still counted (under ``other`` past the caps)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
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
def cardinal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cardinal]:
    db = Path(tmp_path_factory.mktemp("cardinal")) / "chatwatch.db"
    settings = Settings(  # type: ignore[call-arg]
        database_url=f"sqlite:///{db}", alerts_enabled=False, _env_file=None
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


def best_of(
    tries: int, fn: Callable[[], Any], clock: Callable[[], float] = time.process_time
) -> tuple[float, float, Any]:
    """The fastest of a few runs: (CPU seconds, wall seconds, result). The server runs in
    this process, so its CPU time is the load-independent cost the bound is about (for a
    call made in this thread, ``time.thread_time`` counts it alone); the wall time, on a
    machine shared with other jobs, gets a generous margin."""
    best_cpu, best_wall, result = float("inf"), float("inf"), None
    for _ in range(tries):
        cpu, wall = clock(), time.monotonic()
        result = fn()
        best_cpu = min(best_cpu, clock() - cpu)
        best_wall = min(best_wall, time.monotonic() - wall)
    return best_cpu, best_wall, result


WALL_MARGIN = 3.0  # the 1 s bound, times this, on a loaded machine


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


def test_metrics_scrape_is_fast_and_small(cardinal: Cardinal) -> None:
    """``/metrics`` answers in under 1 s and 1 MB (Prometheus gives up at 10 s)."""
    cpu, wall, response = best_of(3, lambda: cardinal.get("/metrics"))
    assert response.status_code == 200
    assert len(response.content) < 1_000_000
    assert cpu < 1.0 and wall < WALL_MARGIN


def test_catalogue_read_is_fast(cardinal: Cardinal) -> None:
    """``/api/v1/metrics`` (every metric, per model, breakdowns) answers in under 1 s."""
    cpu, wall, response = best_of(3, lambda: cardinal.get("/api/v1/metrics?window=24h"))
    assert response.status_code == 200
    assert cpu < 1.0 and wall < WALL_MARGIN


def test_alert_round_is_fast(cardinal: Cardinal) -> None:
    """One evaluation of every shipped rule, per service and per model, under 1 s."""
    store = cardinal.server.app.state.chatwatch.store
    rules = load_rules(None)
    cpu, wall, result = best_of(
        3, lambda: evaluate(store, cardinal.settings, rules, deliver=False), time.thread_time
    )
    assert not result.skipped
    assert cpu < 1.0, f"{cpu:.2f} s of CPU"
    assert wall < WALL_MARGIN, f"{wall:.2f} s"
