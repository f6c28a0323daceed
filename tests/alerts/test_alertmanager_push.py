"""Alertmanager push against a real Alertmanager (Debian's prometheus-alertmanager, started
once for this module on a free port): it receives, shows (GET /api/v2/alerts) and resolves
a chatwatch alert."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alert_helpers import make_settings, turns

from chatwatch.alerts import evaluate, parse_rules
from chatwatch.store import Store
from live_server import free_port

BINARY = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
CONFIG = """
route:
  receiver: blackhole
  group_wait: 1s
receivers:
  - name: blackhole
"""
RULES = parse_rules(
    {
        "rules": [
            {
                "name": "errors",
                "metric": "error_rate",
                "warning": 5,
                "critical": 10,
                "window": "5m",
                "min_samples": 10,
                "runbook_url": "/analytics/runbook#high_error_rate",
            }
        ]
    }
)


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(BINARY).exists():
        pytest.skip("prometheus-alertmanager is not installed")
    folder = tmp_path_factory.mktemp("alertmanager")
    (folder / "am.yml").write_text(CONFIG)
    port = free_port()
    proc = subprocess.Popen(
        [
            BINARY,
            f"--config.file={folder / 'am.yml'}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "exited")
        time.sleep(0.1)
    yield url
    proc.terminate()
    proc.communicate(timeout=10)


def _alerts(url: str, **params: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/api/v2/alerts", params=params, timeout=5)
    response.raise_for_status()
    return [a for a in response.json() if a["labels"].get("alertname") == "errors"]


def test_alertmanager_receives_shows_and_resolves(alertmanager: str, tmp_path: Path) -> None:
    """Firing: Alertmanager shows the alert active with chatwatch's labels, annotations and
    an absolute generatorURL, pushed again each round; resolved: it ends."""
    db = f"sqlite:///{tmp_path / 'cw.db'}"
    store = Store(db)
    settings = make_settings(
        db, alertmanager_urls=[alertmanager], public_url="https://cw.example.com"
    )
    try:
        now = time.time() - 10  # rounds a second apart, all before Alertmanager's now
        turns(store, now - 30, 40, failed=8)  # 20 %: critical
        first = evaluate(store, settings, RULES, now=now)
        assert len(first.pushed) == 1
        (shown,) = _alerts(alertmanager)
        assert shown["status"]["state"] == "active"
        assert shown["labels"] == {"alertname": "errors", "service": "api", "severity": "critical"}
        assert shown["annotations"]["value"] == "20.0%"
        assert shown["annotations"]["runbook_url"] == (
            "https://cw.example.com/analytics/runbook#high_error_rate"
        )
        assert shown["generatorURL"] == "https://cw.example.com/analytics/?service=api&window=5m"
        ends = shown["endsAt"]
        second = evaluate(store, settings, RULES, now=now + 1)  # re-sent while firing
        assert len(second.pushed) == 1
        (again,) = _alerts(alertmanager)
        assert again["fingerprint"] == shown["fingerprint"] and again["endsAt"] > ends
        turns(store, now - 20, 400)  # the rate falls to 2 %: resolved
        third = evaluate(store, settings, RULES, now=now + 2)
        assert [s.state for s in third.states] == ["resolved"]
        assert len(third.pushed) == 1
        deadline = time.monotonic() + 10
        while _alerts(alertmanager, active="true") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _alerts(alertmanager, active="true") == []
        fourth = evaluate(store, settings, RULES, now=now + 3)
        assert fourth.pushed == []  # nothing firing: nothing to push
    finally:
        store.close()
