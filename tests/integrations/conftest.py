"""Shared fixtures for the framework tests: one real chatwatch server per module, with
an ingest key for the SDK and a read key for the checks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chatwatch.config import Settings
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from live_server import LiveServer


@dataclass
class Chatwatch:
    """A running chatwatch server and how to read it."""

    url: str
    ingest_key: str
    read_key: str
    http: httpx.Client = field(repr=False)

    def get(self, path: str, **params: str) -> Any:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json() if "json" in response.headers["content-type"] else response.text

    def metrics(self, **params: str) -> dict[str, float | None]:
        """/api/v1/metrics as name -> value."""
        doc = self.get("/api/v1/metrics", window="all", **params)
        return {name: m["value"] for name, m in doc["metrics"].items()}

    def prometheus(self, service: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """/metrics parsed by prometheus_client: (sample name, labels but service) -> value,
        for one service's samples."""
        out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for family in text_string_to_metric_families(self.get("/metrics")):
            for sample in family.samples:
                if sample.labels.get("service") != service:
                    continue
                labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "service"))
                out[(sample.name, labels)] = sample.value
        return out


def prom_sum(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


@pytest.fixture(scope="module")
def chatwatch_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chatwatch]:
    db = tmp_path_factory.mktemp("chatwatch") / "chatwatch.db"
    settings = Settings(database_url=f"sqlite:///{db}", _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings)
    server = LiveServer(app).start()
    store = app.state.chatwatch.store
    ingest, read = create_key(store, "ingest"), create_key(store, "read")
    headers = {"Authorization": f"Bearer {read}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        yield Chatwatch(server.url, ingest, read, http)
    server.stop()
    store.close()
