"""The SDK's heartbeat: the app's own process every interval, valid as an event, and two
real app processes summed (and listed) in guide 003's ``system`` section."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from chatwatch.config import Settings
from chatwatch.events import Heartbeat, parse_events
from chatwatch.sdk import Client
from chatwatch.sdk.transports import FunctionTransport
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from chatwatch.store import Store


def test_heartbeats_describe_this_process() -> None:
    """Every interval one heartbeat with this pid, its memory and the SDK's counters; it
    validates as an event; no heartbeat after close."""
    got: list[dict[str, Any]] = []
    client = Client(
        service="treq",
        transport=FunctionTransport(got.extend),
        heartbeat_interval=0.2,
        flush_interval=0.05,
    )
    deadline = time.monotonic() + 10
    while len(got) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    client.close()
    count = len(got)
    assert count >= 2
    (first, *_rest) = parse_events(got)
    assert isinstance(first, Heartbeat)
    assert first.pid == os.getpid() and first.service == "treq"
    rss = psutil.Process().memory_info().rss / 1_048_576
    assert 0.5 * rss < first.memory_rss_mb < 2 * rss
    assert first.threads is not None and first.threads >= 2  # ours and the heartbeat's
    assert first.started_at is not None and first.started_at <= time.time()
    assert first.dropped == 0 and first.interval_s == 0.2
    time.sleep(0.5)
    assert len(got) == count


def test_no_heartbeat_when_turned_off() -> None:
    """heartbeat_interval=None: nothing but what the app records."""
    got: list[dict[str, Any]] = []
    client = Client(transport=FunctionTransport(got.extend), heartbeat_interval=None)
    client.record_turn(100.0)
    client.close()
    assert [e["type"] for e in got] == ["turn"]


_APP = """
import sys
from chatwatch.sdk import Client
ballast = bytearray(int(sys.argv[3]) * 1_048_576)
for i in range(0, len(ballast), 4096):
    ballast[i] = 1
client = Client(sys.argv[1], sys.argv[2], service="treq", heartbeat_interval=0.5)
print("ready", flush=True)
sys.stdin.read()
client.close()
"""


def test_two_app_processes_are_the_system_section(tmp_path: Path, make_server: type) -> None:
    """Two real app processes (40 MB and 120 MB of ballast) send heartbeats to a real
    server: ``system`` sums their memory and lists both pids; the server's own figures
    are under ``chatwatch``."""
    db = f"sqlite:///{tmp_path / 'cw.db'}"
    settings = Settings(database_url=db, alerts_enabled=False, _env_file=None)  # type: ignore[call-arg]
    application = create_app(settings)
    store: Store = application.state.chatwatch.store
    ingest, read = create_key(store, "ingest"), create_key(store, "read")
    server = make_server(application).start()
    script = tmp_path / "app.py"
    script.write_text(_APP)
    apps = [
        subprocess.Popen(
            [sys.executable, str(script), server.url, ingest, str(mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for mb in (40, 120)
    ]
    try:
        for proc in apps:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        headers = {"Authorization": f"Bearer {read}"}
        deadline = time.monotonic() + 30
        doc: dict[str, Any] = {}
        while time.monotonic() < deadline:
            doc = httpx.get(
                f"{server.url}/monitoring/metrics", params={"service": "treq"}, headers=headers
            ).json()
            if len(doc["system"]["instances"]) == 2:
                break
            time.sleep(0.2)
        system = doc["system"]
        pids = sorted(i["pid"] for i in system["instances"])
        assert pids == sorted(p.pid for p in apps)
        rss = [psutil.Process(p.pid).memory_info().rss / 1_048_576 for p in apps]
        assert rss[1] - rss[0] > 60  # the ballast shows
        assert abs(system["memory_usage_mb"] - sum(rss)) < 0.2 * sum(rss)
        # the sum of the unrounded figures, so each rounded instance may differ by 0.005
        parts = [i["memory_usage_mb"] for i in system["instances"]]
        assert abs(system["memory_usage_mb"] - sum(parts)) <= 0.005 * len(parts) + 1e-9
        assert system["status"] == "healthy" and system["threads"] >= 4
        own = psutil.Process().memory_info().rss / 1_048_576  # the server runs in this process
        assert abs(doc["chatwatch"]["memory_usage_mb"] - own) < 0.2 * own
    finally:
        for proc in apps:
            proc.kill()
            proc.communicate()
        server.stop()
        store.close()
