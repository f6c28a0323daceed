"""The real ``chatwatch serve`` ends cleanly: SIGTERM stops it within its grace period
while long reads are running, and SIGKILL leaves no worker process behind; on SQLite and
PostgreSQL."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from chatwatch.server.keys import create_key
from chatwatch.store import Store
from module_db import DIALECTS, throwaway_db
from server_process import ServerProcess


def _gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE  # exited, not yet reaped by init
    except psutil.NoSuchProcess:
        return True


@pytest.fixture(params=DIALECTS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with throwaway_db(request.param, tmp_path) as db:
        yield db


def test_sigkilled_server_leaves_no_process_behind(url: str) -> None:
    """The ingest worker and multiprocessing's resource tracker exit with the server."""
    server = ServerProcess(url).start()
    assert server.proc is not None
    family = server.processes()
    children = family[1:]
    assert children, "the server runs an ingest worker (CHATWATCH_INGEST_PROCESSES=1)"
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(_gone(p) for p in children):
        time.sleep(0.1)
    left = [p.pid for p in children if not _gone(p)]
    for pid in left:  # do not leave them to the next test either
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left behind: {left}"


def test_sigterm_stops_a_server_busy_with_long_reads(url: str) -> None:
    """Eight clients each asking for 400 days of hourly export rows (together about 12 s
    of the server's time): SIGTERM ends the server within its 1 s grace period (and at
    most 1 s of teardown), every read cancelled at once and answered 503 rather than run
    to the end."""
    grace = 1
    store = Store(url)
    key = create_key(store, "read", "lifecycle")
    store.close()
    server = ServerProcess(url, CHATWATCH_SHUTDOWN_GRACE_S=str(grace)).start()
    assert server.proc is not None
    started = threading.Barrier(9)
    answers: list[int] = []

    def long_read() -> None:
        params = {"start_date": "2025-01-01", "end_date": "2026-02-04", "granularity": "hour"}
        started.wait()
        try:
            response = httpx.get(
                f"{server.url}/api/chat/analytics/export/",
                params=params,
                headers={"Authorization": f"Token {key}"},
                timeout=120,
            )
            answers.append(response.status_code)
        except httpx.HTTPError:
            answers.append(0)

    clients = [threading.Thread(target=long_read, daemon=True) for _ in range(8)]
    for client in clients:
        client.start()
    started.wait()
    time.sleep(1.5)  # the reads are under way
    assert not answers, "the reads were meant to take longer than this"
    sent = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(timeout=grace + 1)
    finally:
        took = time.monotonic() - sent
        server.stop()
    assert took < grace + 1, f"{took:.2f} s after SIGTERM"
    for client in clients:
        client.join(timeout=10)
    assert answers == [503] * 8
