"""What the SDK loses is counted and said: drops, events left at close, no httpx noise."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from chatwatch import Client, FunctionTransport


def test_dropped_events_are_warned_with_their_count(caplog: pytest.LogCaptureFixture) -> None:
    """A full queue drops events and the sender says how many, and why."""
    release = threading.Event()
    client = Client(transport=FunctionTransport(lambda b: release.wait(5)), max_queue=10)
    caplog.set_level(logging.WARNING, "chatwatch.sdk")
    for i in range(1, 101):
        client.message("user", f"s{i}")
    release.set()
    assert client.flush(5)
    client.close()
    stats = client.stats()
    assert stats["dropped"] > 0
    warned = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert warned and f"{stats['dropped']} dropped in all" in warned[-1]
    assert "queue was full" in warned[-1]


def test_drop_warnings_are_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    """A second burst of drops within the minute is not warned again until close(), which
    says what was dropped since and in all."""
    client = Client(
        transport=FunctionTransport(lambda b: time.sleep(0.02)),
        max_queue=10,
        batch_size=5,
        flush_interval=0.01,
    )
    caplog.set_level(logging.WARNING, "chatwatch.sdk")

    def warned() -> list[str]:
        return [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]

    for i in range(200):
        client.message("user", f"a{i}")
    deadline = time.monotonic() + 5
    while not warned() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(warned()) == 1
    first = client.stats()["dropped"]
    for i in range(200):
        client.message("user", f"b{i}")
    time.sleep(0.3)  # many sender rounds: still one warning
    assert len(warned()) == 1
    client.close(timeout=5)
    total = client.stats()["dropped"]
    assert total > first > 0
    assert len(warned()) == 2 and f"{total} dropped in all" in warned()[-1]


def test_events_left_at_close_are_counted_lost(caplog: pytest.LogCaptureFixture) -> None:
    """close() with a server that never answers: every queued event is lost, and said."""

    def down(batch: list[dict[str, Any]]) -> None:
        raise ConnectionError("down")

    client = Client(
        transport=FunctionTransport(down), batch_size=5, backoff_base=0.05, max_backoff=0.05
    )
    caplog.set_level(logging.WARNING, "chatwatch.sdk")
    for i in range(20):
        client.message("user", f"s{i}")
    client.close(timeout=0.3)
    stats = client.stats()
    assert stats["lost"] == stats["recorded"] == 20
    assert stats["queued"] == 0 and stats["sent"] == 0
    lost = [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]
    assert lost


def test_httpx_request_lines_stay_out_of_the_apps_log(
    receiver: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The sender's HTTP requests log no INFO line through httpx."""
    receiver.start()
    caplog.set_level(logging.INFO)
    client = Client(receiver.url, "key", flush_interval=0.01)
    client.message("user", "s1")
    assert client.flush(5)
    client.close()
    assert receiver.accepted
    assert not [r for r in caplog.records if r.name.startswith("httpx")]
