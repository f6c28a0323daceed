"""A flood of 100 concurrent anonymous logins against ``chatwatch serve`` run as a real
process: its memory stays under 500 MB and an ingest batch sent meanwhile is answered in
under a second (password hashes run a few at a time on their own threads; the rest 429).

Each login comes from another address (through a trusted proxy) for another name, so the
attempt counters do not stop them: only the hash pool's bound protects the server.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from chatwatch.dashboard.users import create_user
from chatwatch.server.keys import create_key
from chatwatch.store import Store
from login_flood import FLOOD_SCRIPT, PeakRss
from server_process import ServerProcess

RSS_LIMIT = 500 * 1024 * 1024
INGEST_LIMIT_S = 1.0
FLOOD = 100


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    ingest_key: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path_factory.mktemp('flood') / 'cw.db'}"
    store = Store(url)
    create_user(store, "ana", "correct horse battery")
    key = create_key(store, "ingest", "flood test")
    store.close()
    served = ServerProcess(
        url, CHATWATCH_TRUSTED_PROXIES="127.0.0.1", CHATWATCH_INGEST_PROCESSES="0"
    ).start()
    assert served.proc is not None
    yield Server(served.url, served.proc, key)
    served.stop()


def _turns(n: int) -> list[dict[str, object]]:
    now = time.time()
    return [
        {"type": "turn", "id": uuid.uuid4().hex, "ts": now, "service": "flood",
         "session_id": f"s{i % 7}", "response_time_ms": 100 + i}
        for i in range(n)
    ]  # fmt: skip


def test_a_login_flood_keeps_memory_bounded_and_ingest_answering(server: Server) -> None:
    """The flood comes from another process, so the batch timed here competes with it only
    inside the server."""
    auth = {"Authorization": f"Bearer {server.ingest_key}"}
    with httpx.Client(base_url=server.url, timeout=60) as http:
        warm = http.post("/api/v1/events", json=_turns(10), headers=auth)
        assert warm.status_code == 202  # a first batch, so the flood meets a warm server
        with PeakRss(server.proc.pid) as rss:
            flood = subprocess.Popen(
                [sys.executable, "-c", FLOOD_SCRIPT, server.url, str(FLOOD), "0"],
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert flood.stdout is not None
                assert flood.stdout.readline().strip() == "flooding"
                start = time.monotonic()
                answer = http.post("/api/v1/events", json=_turns(200), headers=auth)
                ingest_s = time.monotonic() - start
                out, _ = flood.communicate(timeout=120)
            finally:
                if flood.poll() is None:
                    flood.kill()
                    flood.wait()
    statuses = [int(s) for s in out.split()]
    assert answer.status_code == 202 and answer.json()["accepted"] == 200
    assert len(statuses) == FLOOD
    assert ingest_s < INGEST_LIMIT_S, f"ingest took {ingest_s:.2f} s during the flood"
    assert rss.peak < RSS_LIMIT, f"server peaked at {rss.peak / 2**20:.0f} MB"
    assert set(statuses) <= {401, 429}
    assert statuses.count(429) > 0  # the pool refused what it could not hash at once
    assert statuses.count(401) >= 1  # and hashed some
    print(
        f"peak RSS {rss.peak / 2**20:.0f} MB, ingest {ingest_s * 1000:.0f} ms, "
        f"{statuses.count(401)} checked, {statuses.count(429)} refused"
    )
