"""Bodies of routes other than ingest are refused past 1 MiB before they are read whole,
key or no key; ingest keeps its own limit (tied to the batch limit)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from chatwatch.config import Settings
from chatwatch.server import create_app
from chatwatch.server.body_limit import MAX_BODY_BYTES
from live_server import LiveServer, bearer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    db = tmp_path_factory.mktemp("body") / "cw.db"
    settings = Settings(
        database_url=f"sqlite:///{db}",
        alerts_enabled=False,
        maintenance_interval_s=0,
        _env_file=None,
    )  # type: ignore[call-arg]
    app = create_app(settings)
    live = LiveServer(app).start()
    yield live
    live.stop()
    app.state.chatwatch.store.close()


def _chunks(total: int) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b"x" * 65536
        sent += 65536


@pytest.mark.parametrize("path", ["/api/v1/feedback", "/analytics/login", "/api/v1/keys"])
def test_a_large_declared_body_is_refused_without_a_key(server: LiveServer, path: str) -> None:
    """A key-less 5 MB POST to a small-body route: 413 at once, nothing buffered."""
    answer = httpx.post(f"{server.url}{path}", content=b"x" * (5 * MAX_BODY_BYTES))
    assert answer.status_code == 413
    assert str(MAX_BODY_BYTES) in answer.json()["detail"]


def test_a_large_streamed_body_is_refused(server: LiveServer) -> None:
    """A chunked body (no Content-Length) is counted as it arrives and cut at the limit."""
    answer = httpx.post(
        f"{server.url}/api/v1/feedback",
        content=_chunks(4 * MAX_BODY_BYTES),
        headers=bearer(server.app.state.chatwatch.store, "feedback"),
    )
    assert answer.status_code == 413


def test_small_bodies_and_ingest_are_not_limited_here(server: LiveServer) -> None:
    """A small key-less body gets the route's own 401; a 1.5 MB ingest body passes this limit
    and gets the ingest route's own answer (here: not JSON, so 4xx but not 413)."""
    small = httpx.post(f"{server.url}/api/v1/feedback", json={"run_id": "r", "thumbs": "up"})
    assert small.status_code == 401
    store = server.app.state.chatwatch.store
    big = httpx.post(
        f"{server.url}/api/v1/events",
        content=b"[" + b" " * (MAX_BODY_BYTES + MAX_BODY_BYTES // 2) + b"]",
        headers={**bearer(store, "ingest"), "Content-Type": "application/json"},
    )
    assert big.status_code != 413 and big.status_code < 500
