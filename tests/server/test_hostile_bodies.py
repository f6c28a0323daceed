"""Bounded cost per request: the amplification bodies of issue 11 against the real server
in a subprocess (so psutil measures its memory, ingest worker included): each is a 4xx in
under 5 s, with an answer under 64 KB and under 200 MB of server growth, while a small
batch sent meanwhile is answered in under a second. On SQLite and PostgreSQL, one server
each. The bounds are generous: the test machine is shared."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chatwatch.server.keys import create_key
from chatwatch.store import Store
from hostile_inputs import hostile_bodies, message
from module_db import DIALECTS, throwaway_db
from server_process import ServerProcess

LIMIT_S, LIMIT_BYTES, LIMIT_MB, SMALL_S = 5.0, 64_000, 200.0, 1.0


@pytest.fixture(scope="module", params=DIALECTS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, str]]:
    with throwaway_db(request.param, Path(tmp_path_factory.mktemp("bodies"))) as url:
        store = Store(url)
        key = create_key(store, "ingest")
        store.close()
        srv = ServerProcess(url).start()
        yield srv, key
        srv.stop()


class Sampler:
    """The server's peak resident memory while a block runs (sampled every 20 ms)."""

    def __init__(self, srv: ServerProcess) -> None:
        self.srv, self.peak = srv, srv.rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.srv.rss_mb())

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.parametrize("name", list(hostile_bodies()))
def test_a_hostile_body_costs_little(server: tuple[ServerProcess, str], name: str) -> None:
    """A 4xx in < 5 s, < 64 KB, < 200 MB of growth; a small batch meanwhile < 1 s."""
    srv, key = server
    body, headers = hostile_bodies()[name]
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=srv.url, headers=auth, timeout=60) as http:
        http.post("/api/v1/events", json=[message(0)])  # warm: the worker is up
        baseline = srv.rss_mb()
        small: list[float] = []

        def meanwhile() -> None:
            with httpx.Client(base_url=srv.url, headers=auth, timeout=60) as other:
                time.sleep(0.05)
                start = time.monotonic()
                response = other.post("/api/v1/events", json=[message(1)])
                small.append(time.monotonic() - start)
                assert response.status_code == 202

        side = threading.Thread(target=meanwhile)
        with Sampler(srv) as sampler:
            side.start()
            start = time.monotonic()
            response = http.post("/api/v1/events", content=body, headers=headers)
            took = time.monotonic() - start
            side.join()
        assert 400 <= response.status_code < 500, response.text[:300]
        assert took < LIMIT_S, took
        assert len(response.content) < LIMIT_BYTES
        assert sampler.peak - baseline < LIMIT_MB, (baseline, sampler.peak)
        assert small and small[0] < SMALL_S, small
        assert http.post("/api/v1/events", json=[message(2)]).status_code == 202


def test_an_invalid_batch_names_at_most_100_problems(server: tuple[ServerProcess, str]) -> None:
    """1 000 bad events: the first 100 problems, and the total."""
    srv, key = server
    body = [{"type": "turn", "id": f"x{i}", "ts": "no"} for i in range(1000)]
    response = httpx.post(
        f"{srv.url}/api/v1/events",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert response.status_code == 422
    answer = response.json()
    assert len(answer["detail"]) == 100
    assert answer["errors_total"] == 2000  # ts and response_time_ms of each
    assert [d["index"] for d in answer["detail"][:4]] == [0, 0, 1, 1]


def test_the_worker_returns_to_its_baseline(server: tuple[ServerProcess, str]) -> None:
    """After every hostile body, the server and its worker hold no more than 64 MB above
    where they started."""
    srv, key = server
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=srv.url, headers=auth, timeout=60) as http:
        http.post("/api/v1/events", json=[message(0)])
        baseline = srv.rss_mb()
        for body, headers in hostile_bodies().values():
            for _ in range(2):
                http.post("/api/v1/events", content=body, headers=headers)
        time.sleep(0.5)
        assert srv.rss_mb() - baseline < 64, (baseline, srv.rss_mb())


def test_an_endless_header_is_refused_before_it_grows_the_server(
    server: tuple[ServerProcess, str],
) -> None:
    """A key-less connection sending one header without end: the server answers 400 and
    closes it within the first megabytes, its memory unchanged (uvicorn with httptools,
    which it would pick where installed, buffered 141 MB of it and answered nothing)."""
    srv, _ = server
    baseline = srv.rss_mb()
    sent = 0
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: ")
        with contextlib.suppress(OSError):  # the server closes the connection
            while sent < 64 << 20:
                sock.sendall(b"a" * (1 << 16))
                sent += 1 << 16
        with contextlib.suppress(OSError):
            answer = sock.recv(64)
            assert answer.startswith(b"HTTP/1.1 400"), answer
    assert sent < 16 << 20, sent
    assert srv.rss_mb() - baseline < 32, (baseline, srv.rss_mb())
    assert httpx.get(f"{srv.url}/healthz", timeout=5).status_code == 200
