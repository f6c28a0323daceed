"""``chatwatch grafana-dashboard``: every panel's query, run against a real Prometheus
scraping a real chatwatch server, returns data; the JSON is an importable classic
dashboard; ``--provisioning`` writes Grafana's provisioning files."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from chatwatch.cli import app as cli
from chatwatch.config import Settings
from chatwatch.events import parse_events
from chatwatch.integrations.grafana import GUIDE_PANELS, dashboard, panel_queries
from chatwatch.metrics.prometheus import family_names
from chatwatch.sdk import Client
from chatwatch.sdk.transports import StoreTransport
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from chatwatch.store import Store
from live_server import LiveServer, free_port

sys.path.insert(0, str(Path(__file__).parent.parent / "metrics"))
import workload as metrics_workload

PROMETHEUS = Path("/usr/bin/prometheus")
# what Grafana puts in place of the variables with "All" chosen
GRAFANA_VARS = {"$service": ".*", "$model": ".*", "$__rate_interval": "1m"}


def _shifted() -> list[dict[str, Any]]:
    """The metrics tests' workload moved to end now, its last week only."""
    shift = time.time() - 60 - metrics_workload.NOW
    events = [{**e, "ts": e["ts"] + shift} for e in metrics_workload.workload(sessions=160)]
    recent = [e for e in events if e["ts"] > time.time() - 6 * 86400]
    return recent + _heartbeats()


def _heartbeats() -> list[dict[str, Any]]:
    """Each service's app process reporting itself now (the chat_app_* gauges count a
    process alive for three heartbeat intervals)."""
    now = time.time()
    return [
        {
            "id": f"hb-{service}-{now}",
            "type": "heartbeat",
            "service": service,
            "ts": now,
            "host": "web-1",
            "pid": 100 + n,
            "memory_rss_mb": 210.0,
            "cpu_percent": 12.5,
            "threads": 9,
            "queue_depth": 2,
            "dropped": 1,
        }
        for n, service in enumerate(metrics_workload.SERVICES)
    ]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Store]]:
    """chatwatch with the workload's first half, Prometheus scraping it every second
    with a read key; the second half arrives after the first scrape."""
    if not PROMETHEUS.exists():
        pytest.skip("/usr/bin/prometheus is not installed (.ci/run installs it)")
    tmp = tmp_path_factory.mktemp("grafana")
    settings = Settings(
        database_url=f"sqlite:///{tmp / 'cw.db'}",
        alerts_enabled=False,
        prometheus_window="all",
        monthly_budget_usd=100.0,
        monthly_token_budget=10_000_000,
        _env_file=None,
    )  # type: ignore[call-arg]
    app = create_app(settings)
    server = LiveServer(app).start()
    store = app.state.chatwatch.store
    events = _shifted()
    store.ingest(parse_events([e for i, e in enumerate(events) if i % 2 == 0]))
    # a live app process: its SDK heartbeats feed the chat_app_* families
    app_client = Client(
        service="shop", transport=StoreTransport(store), heartbeat_interval=1.0, flush_interval=0.2
    )
    app_client.heartbeat()
    key = create_key(store, "read", "prometheus")
    config = tmp / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: chat_metrics\n    scrape_interval: 1s\n"
        f"    authorization:\n      type: Bearer\n      credentials: {key}\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{server.port}']\n"
    )
    url = f"http://127.0.0.1:{free_port()}"
    log = (tmp / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            str(PROMETHEUS),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address={url.removeprefix('http://')}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait(url, "up == 1")
        store.ingest(parse_events([e for i, e in enumerate(events) if i % 2 == 1]))
        since = time.time()
        _wait(url, f"timestamp(up) > {since + 2}")
        yield url, store
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        app_client.close()
        server.stop()
        store.close()


def _query(url: str, expr: str) -> list[dict[str, Any]]:
    body = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert body["status"] == "success", (expr, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _wait(url: str, expr: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if _query(url, expr):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {expr}")


def _as_grafana_runs(expr: str) -> str:
    for name, value in GRAFANA_VARS.items():
        expr = expr.replace(name, value)
    return expr


def test_every_panel_query_returns_data(prometheus: tuple[str, Store]) -> None:
    """Each of the dashboard's queries (the Django guide's four and one per family)
    returns at least one series with a finite value from the real Prometheus."""
    url, store = prometheus
    store.ingest(parse_events(_heartbeats()))  # the apps are alive now, however slow the run
    _wait(url, f"timestamp(up) > {time.time() + 1}")
    queries = panel_queries()
    assert len(queries) == len(set(queries)) > len(family_names())
    empty = []
    for expr in queries:
        result = _query(url, _as_grafana_runs(expr))
        values = [float(s["value"][1]) for s in result]
        if not any(math.isfinite(v) for v in values):
            empty.append(expr)
    assert empty == []


def test_every_family_of_metrics_has_a_panel() -> None:
    """Every family /metrics exposes is queried by some panel; the first four panels are
    guide 000's queries."""
    queries = panel_queries()
    for family in family_names():
        assert any(family in q for q in queries), family
    assert [expr.replace('{service=~"$service"}', "") for _, expr, _ in GUIDE_PANELS] == [
        "chat_active_sessions",
        "histogram_quantile(0.95, chat_response_time_seconds_bucket)",
        "rate(chat_errors_total[5m])",
        "rate(chat_messages_total[1m])",
    ]


def test_the_json_is_an_importable_classic_dashboard() -> None:
    """The printed JSON has the classic model's fields, unique panel ids that do not
    overlap, a datasource variable every panel reads, and the service/model variables."""
    result = CliRunner().invoke(cli, ["grafana-dashboard"])
    assert result.exit_code == 0
    doc = json.loads(result.output)
    assert doc == dashboard()
    assert doc["schemaVersion"] == 42 and doc["uid"] == "chatwatch-overview"
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("service", "model"):
        assert variables[name]["definition"].startswith("label_values(")
        assert variables[name]["includeAll"] and variables[name]["allValue"] == ".*"
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for p in doc["panels"]:
        g = p["gridPos"]
        area = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not area & cells, p["title"]
        assert g["x"] + g["w"] <= 24
        cells |= area
        if p["type"] != "row":
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert p["targets"][0]["expr"]


def test_provisioning_writes_the_dashboard_and_yaml(tmp_path: Path) -> None:
    """--provisioning DIR writes the dashboard JSON, a Prometheus datasource and a file
    provider pointing at the dashboard's folder."""
    args = [
        "grafana-dashboard",
        "--provisioning",
        str(tmp_path),
        "--prometheus-url",
        "http://prom:9090",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "dashboards" / "chatwatch.json").read_text())
    assert doc["uid"] == "chatwatch-overview"
    ds = yaml.safe_load((tmp_path / "provisioning/datasources/chatwatch.yaml").read_text())
    assert ds["datasources"][0]["type"] == "prometheus"
    assert ds["datasources"][0]["url"] == "http://prom:9090"
    provider = yaml.safe_load((tmp_path / "provisioning/dashboards/chatwatch.yaml").read_text())
    assert Path(provider["providers"][0]["options"]["path"]) == (tmp_path / "dashboards").resolve()
