"""``chatwatch demo`` as a user runs it: a URL with live traffic, keys that work, clean stop."""

from __future__ import annotations

import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from chatwatch.dashboard.users import verify_user
from chatwatch.store import Store
from live_server import free_port

START_TIMEOUT = 60.0
LIVE_TIMEOUT = 20.0  # the promise is ten seconds; leave room for a loaded CI machine
HISTORY_TIMEOUT = 120.0


class Demo:
    """The demo command in a subprocess, its output read line by line in a thread."""

    def __init__(self, *args: str) -> None:
        code = "from chatwatch.cli import main; main()"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, "demo", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert self.proc.stdout is not None
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{text!r} not printed; output so far: {self.lines}"
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            assert line is not None, f"demo exited early: {self.lines}"
            self.lines.append(line)

    def value(self, label: str) -> str:
        """The first word after ``label`` on the banner line that starts with it."""
        for line in self.lines:
            if line.strip().startswith(label):
                return line.strip()[len(label) :].split()[0]
        raise AssertionError(f"no {label!r} line in {self.lines}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
        self.close()
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    return tmp_path / "demo.db"


@pytest.fixture
def demo(demo_db: Path) -> Iterator[Demo]:
    port = free_port()
    args = ["--port", str(port), "--db", str(demo_db), "--history", "0.1", "--rate", "5"]
    running = Demo(*args, "--seed", "3")
    yield running
    running.close()


def _total(http: httpx.Client, url: str, window: str) -> int:
    response = http.get(url, params={"window": window})
    response.raise_for_status()
    return int(response.json()["chat"]["total_requests"])


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def test_demo_prints_a_url_whose_metrics_show_live_traffic(
    demo: Demo, demo_db: Path, http: httpx.Client
) -> None:
    """The printed /monitoring/metrics URL shows traffic at once, then growing live."""
    demo.wait_for("Ctrl+C to stop", START_TIMEOUT)
    url = demo.value("metrics")
    assert url.endswith("/monitoring/metrics")
    deadline = time.monotonic() + LIVE_TIMEOUT
    while _total(http, url, "24h") == 0:  # the history, oldest first
        assert time.monotonic() < deadline, "no traffic arrived"
        time.sleep(0.1)
    demo.wait_for("live traffic from now on", HISTORY_TIMEOUT)
    # 24h holds the whole 6-minute history, so the total only grows; a 5m window drops a
    # whole minute of history at each minute boundary, more than 20 s of live traffic adds
    first = _total(http, url, "24h")
    deadline = time.monotonic() + LIVE_TIMEOUT
    while _total(http, url, "24h") <= first:
        assert time.monotonic() < deadline, "no live traffic arrived"
        time.sleep(0.25)
    document = http.get(url).json()
    assert {"model_8b_calls", "model_70b_calls", "model_glm4_calls"} <= set(document["llm"])
    assert document["llm"]["model_8b_calls"] > document["llm"]["model_glm4_calls"] > 0

    base = url.removesuffix("/monitoring/metrics")
    ingest = http.post(
        f"{base}/api/v1/events",
        json=[],
        headers={"Authorization": f"Bearer {demo.value('ingest key')}"},
    )
    assert ingest.status_code == 202
    # development mode opens keyless reads from this machine, never writes
    assert http.post(f"{base}/api/v1/events", json=[]).status_code == 401
    assert any("development mode" in line for line in demo.lines)
    read = http.get(
        f"{base}/monitoring/stats/summary",
        headers={"Authorization": f"Bearer {demo.value('read key')}"},
    )
    assert read.status_code == 200 and read.json()["total_requests"] > 0

    assert demo.stop() == 0
    assert any("stopped" in line for line in demo.lines)
    login = next(line for line in demo.lines if "login:" in line)
    password = login.split("login: admin / ")[1].rstrip(")").strip()
    store = Store(f"sqlite:///{demo_db}")
    try:
        assert verify_user(store, "admin", password) is not None
    finally:
        store.close()


def test_a_taken_port_fails_fast_with_a_message(demo_db: Path) -> None:
    """The port is checked before the backfill: a clear message and a non-zero exit."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        demo = Demo("--port", str(port), "--db", str(demo_db), "--history", "24")
        demo.proc.wait(timeout=30)
        code = demo.stop()
    assert code == 1
    assert any(f"cannot listen on 127.0.0.1:{port}" in line for line in demo.lines)
    assert not demo_db.exists()


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ([], ["demo"]),
        (["PORT=8010"], ["demo", "--port", "8010"]),
        (["ARGS=--history 2d --rate 2"], ["demo", "--history", "2d", "--rate", "2"]),
        (["PORT=8011", "ARGS=--reset"], ["demo", "--port", "8011", "--reset"]),
    ],
)
def test_make_demo_passes_port_and_args_through(variables: list[str], expected: list[str]) -> None:
    """``make demo PORT=8010`` and ``make demo ARGS=...`` end in the demo command with
    those options (``make -n``: the commands, none run)."""
    if shutil.which("make") is None:
        pytest.skip("needs make")
    result = subprocess.run(
        ["make", "-n", "--no-print-directory", "demo", *variables],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1].split()
    assert last[0].endswith("/chatwatch") and last[1:] == expected
