"""The SDK never wedges: a batch the server keeps failing on (5xx) is split in halves until
the events at fault are isolated and dropped (counted as rejected, logged once), and the
good events around them are delivered; a server failing on everything drops nothing
until a lone event has failed many times."""

from __future__ import annotations

import gzip
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sdk_receiver import Receiver

from chatwatch.config import Settings
from chatwatch.sdk import Client
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from live_server import LiveServer

Scope = dict[str, Any]


class PoisonFails:
    """ASGI middleware: ``POST /api/v1/events`` answers 500 when the batch holds the word
    ``poison`` (a server bug one event triggers); every other request reaches chatwatch."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/api/v1/events":
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = dict(scope["headers"])
        plain = gzip.decompress(body) if headers.get(b"content-encoding") == b"gzip" else body
        if b"poison" in plain:
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b"Internal Server Error"})
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return dict(await receive())

        await self.app(scope, replay, send)


@pytest.fixture
def poisoned(db_url: str) -> Iterator[tuple[str, str, str]]:
    """A server (SQLite or PostgreSQL) that fails on batches holding ``poison``."""
    app = create_app(Settings(database_url=db_url, alerts_enabled=False, _env_file=None))  # type: ignore[call-arg]
    app.add_middleware(PoisonFails)
    store = app.state.chatwatch.store
    keys = create_key(store, "ingest"), create_key(store, "read")
    server = LiveServer(app).start()
    yield server.url, *keys
    server.stop()
    store.close()


def test_one_poison_event_is_isolated_and_the_rest_delivered(
    poisoned: tuple[str, str, str],
    make_client: Callable[..., Client],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """100 turns in batches of 40, one of them poison: 99 stored, 1 rejected, one warning."""
    url, ingest, read = poisoned
    client = make_client(url=url, api_key=ingest, batch_size=40, service="shop")
    with caplog.at_level(logging.WARNING, "chatwatch.sdk"):
        for i in range(100):
            client.record_turn(120.0, user_id="poison-1" if i == 37 else f"u{i}")
        assert client.flush(timeout=60)
    stats = client.stats()
    assert (stats["sent"], stats["rejected"], stats["queued"]) == (99, 1, 0)
    dropped = [r for r in caplog.records if "dropped an event" in r.getMessage()]
    assert len(dropped) == 1 and "poison" not in dropped[0].getMessage()
    metrics = httpx.get(
        f"{url}/monitoring/metrics",
        params={"window": "1h"},
        headers={"Authorization": f"Bearer {read}"},
    ).json()
    assert metrics["chat"]["total_requests"] == 99
    client.record_turn(80.0, user_id="after")  # the queue flows on
    assert client.flush(timeout=30)
    assert client.stats()["sent"] == 100


def test_a_server_failing_on_everything_splits_but_drops_late(
    receiver: Receiver, make_client: Callable[..., Client]
) -> None:
    """Every batch a 500: halves are tried (4, 2, 1), and a lone event is dropped only after
    eight tries with no delivery succeeding meanwhile."""
    receiver.respond = lambda batch: (500, {"detail": "down"})
    receiver.start()
    client = make_client(url=receiver.url, batch_size=4, max_backoff=0.02)
    for i in range(4):
        client.record_turn(10.0, user_id=f"u{i}")
    deadline = time.monotonic() + 30
    while client.stats()["rejected"] < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    sizes = [len(r.batch) for r in receiver.requests]
    assert sizes[:6] == [4, 4, 4, 2, 2, 2]
    first_alone = sizes.index(1)
    assert sizes[first_alone : first_alone + 8] == [1] * 8
    assert client.stats()["sent"] == 0
