"""The background sender: bounded queue, batching, flush/close, retries, rejections."""

from __future__ import annotations

import itertools
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chatwatch.events import parse_events
from chatwatch.sdk import (
    CaptureTransport,
    Client,
    FunctionTransport,
    RejectedBatch,
    RetryAfter,
    StoreTransport,
)

MakeClient = Callable[..., Client]
Batch = list[dict[str, Any]]


class Gate:
    """A transport that blocks until opened, so tests control when sending happens."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.sent: Batch = []

    def send(self, batch: Batch) -> None:
        self.open.wait(10)
        self.sent.extend(batch)


class Flaky:
    """Fails the first ``failures`` sends, then delivers."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or ConnectionError("down")
        self.attempts: list[float] = []
        self.delivered: Batch = []

    def send(self, batch: Batch) -> None:
        self.attempts.append(time.monotonic())
        if len(self.attempts) <= self.failures:
            raise self.error
        self.delivered.extend(batch)


class ValidatingSink:
    """A store double: what StoreTransport ingests after validation."""

    def __init__(self) -> None:
        self.ingested: list[Any] = []

    def ingest(self, events: Any) -> None:
        self.ingested.extend(events)


def test_full_queue_drops_the_oldest_and_counts(make_client: MakeClient) -> None:
    """With the sender stalled, a full queue keeps the newest events and counts the drops."""
    gate = Gate()
    client = make_client(transport=gate, max_queue=10, batch_size=1000, flush_interval=60)
    ids = [client.message("user", "s1") for _ in range(25)]
    stats = client.stats()
    assert stats["recorded"] == 25
    assert stats["dropped"] == 15
    assert stats["queued"] == 10
    gate.open.set()
    assert client.flush(5)
    assert [e["id"] for e in gate.sent] == ids[15:]
    assert client.stats()["sent"] == 10


def test_flush_delivers_everything_recorded(make_client: MakeClient) -> None:
    """flush() returns True once every recorded event reached the transport."""
    capture = CaptureTransport()
    client = make_client(transport=capture, flush_interval=60)
    for _ in range(1234):
        client.cache_lookup(True)
    assert client.flush(5)
    assert len(capture.events) == 1234
    assert client.stats()["queued"] == 0


def test_flush_times_out_while_the_transport_is_stuck(make_client: MakeClient) -> None:
    """flush(timeout) gives up and returns False instead of blocking the caller forever."""
    gate = Gate()
    client = make_client(transport=gate)
    client.message("user")
    assert client.flush(0.1) is False
    gate.open.set()
    assert client.flush(5)


def test_close_delivers_what_is_queued(make_client: MakeClient) -> None:
    """close() sends the queue before stopping the sender."""
    capture = CaptureTransport()
    client = make_client(transport=capture, flush_interval=60)
    for _ in range(7):
        client.message("user")
    client.close()
    assert len(capture.events) == 7
    assert client.message("user") != ""  # recording after close still never raises


def test_batches_are_cut_at_batch_size(make_client: MakeClient) -> None:
    """Reaching batch_size wakes the sender, which sends batches of at most that size."""
    capture = CaptureTransport()
    client = make_client(transport=capture, batch_size=100, flush_interval=60)
    for _ in range(100):
        client.cache_lookup(False)
    deadline = time.monotonic() + 5
    while not capture.batches and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [len(b) for b in capture.batches] == [100]
    for _ in range(250):
        client.cache_lookup(False)
    assert client.flush(5)
    assert max(len(b) for b in capture.batches) <= 100
    assert sum(len(b) for b in capture.batches) == 350


def test_the_interval_sends_small_batches_without_flush(make_client: MakeClient) -> None:
    """Fewer than batch_size events still go out every flush_interval."""
    capture = CaptureTransport()
    client = make_client(transport=capture, flush_interval=0.05)
    client.message("user")
    deadline = time.monotonic() + 5
    while not capture.events and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(capture.events) == 1


def test_failed_sends_are_retried_with_backoff_and_delivered_once(
    make_client: MakeClient,
) -> None:
    """A transport failing 3 times gets the same batch again after growing delays, once."""
    flaky = Flaky(failures=3)
    client = make_client(transport=flaky, backoff_base=0.02, max_backoff=1.0)
    ids = [client.llm_call("m", 1, 1, 1.0) for _ in range(5)]
    assert client.flush(10)
    assert [e["id"] for e in flaky.delivered] == ids
    gaps = [b - a for a, b in itertools.pairwise(flaky.attempts)]
    assert len(gaps) == 3
    assert gaps[0] >= 0.01 and gaps[2] >= 0.04  # full jitter in [d/2, d], d doubling
    stats = client.stats()
    assert (stats["retries"], stats["sent"], stats["dropped"], stats["lost"]) == (3, 5, 0, 0)


def test_retry_after_is_honoured(make_client: MakeClient) -> None:
    """A RetryAfter from the transport waits at least the time the server asked for."""
    flaky = Flaky(failures=1, error=RetryAfter("429", 0.3))
    client = make_client(transport=flaky, backoff_base=0.01, max_backoff=5.0)
    client.message("user")
    assert client.flush(5)
    assert flaky.attempts[1] - flaky.attempts[0] >= 0.3


def test_record_never_raises_on_garbage(make_client: MakeClient) -> None:
    """Nonsense arguments never raise into the app; invalid events are rejected, not retried."""
    sink = ValidatingSink()
    client = make_client(transport=StoreTransport(sink))
    garbage: list[Callable[[], str]] = [
        lambda: client.llm_call(None, "many", object(), -5.0),  # type: ignore[arg-type]
        lambda: client.record_turn("slow", tokens=-1),  # type: ignore[arg-type]
        lambda: client.feedback(rating=11),
        lambda: client.feedback(),
        lambda: client.message("agent", attributes=[1, 2, 3]),  # type: ignore[arg-type]
        lambda: client.rag_search(similarity=7.0, results="x"),  # type: ignore[arg-type]
        lambda: client.session_started("x" * 500),
        lambda: client.connect("s1", attributes={f"k{i}": i for i in range(50)}),
    ]
    for record in garbage:
        assert isinstance(record(), str)
    good = client.message("user", "s1")
    assert client.flush(5)
    assert [e.id for e in sink.ingested] == [good]
    stats = client.stats()
    assert stats["rejected"] == 7  # the list attributes never made it to the queue
    assert stats["retries"] == 0


def test_record_never_raises_when_the_transport_does(make_client: MakeClient) -> None:
    """A transport that always raises costs the app nothing: records keep returning ids."""

    def broken(batch: Batch) -> None:
        raise RuntimeError("boom")

    client = make_client(transport=FunctionTransport(broken), max_queue=50)
    ids = [client.message("user", "s1") for _ in range(200)]
    assert all(ids)
    assert client.flush(0.2) is False
    stats = client.stats()
    assert stats["retries"] >= 1
    assert stats["dropped"] >= 100
    client.close(timeout=0.1)


def test_rejected_events_are_dropped_and_the_rest_resent(make_client: MakeClient) -> None:
    """A rejection naming indexes drops those events only; the others are sent again."""
    attempts: list[Batch] = []

    def picky(batch: Batch) -> None:
        attempts.append(batch)
        bad = [i for i, e in enumerate(batch) if e.get("sender_type") == "bad"]
        if bad:
            raise RejectedBatch("422", status=422, indexes=bad)

    client = make_client(transport=FunctionTransport(picky), flush_interval=60)
    for sender in ("user", "bad", "agent", "bad"):
        client.message(sender)
    assert client.flush(5)
    assert [[e["sender_type"] for e in b] for b in attempts] == [
        ["user", "bad", "agent", "bad"],
        ["user", "agent"],
    ]
    assert client.stats()["rejected"] == 2
    assert client.stats()["sent"] == 2


def test_too_large_batches_are_split(make_client: MakeClient) -> None:
    """A 413 rejection splits the batch in halves until each part fits."""
    sizes: list[int] = []

    def small_only(batch: Batch) -> None:
        sizes.append(len(batch))
        if len(batch) > 3:
            raise RejectedBatch("413", status=413)

    client = make_client(transport=FunctionTransport(small_only), flush_interval=60)
    for _ in range(10):
        client.message("user")
    assert client.flush(5)
    assert client.stats()["sent"] == 10
    assert sizes[0] == 10
    assert client.stats()["rejected"] == 0


def test_failures_are_logged_without_the_api_key(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, receiver: Any
) -> None:
    """Failed sends are logged to chatwatch.sdk, and the API key appears nowhere."""
    secret = "sk-cw-SECRET-123456"
    client = make_client(url=receiver.url, api_key=secret)
    with caplog.at_level(logging.DEBUG, logger="chatwatch.sdk"):
        client.message("user")
        assert client.flush(0.3) is False  # nothing is listening yet
        receiver.respond = lambda batch: (401, {"detail": "bad key"})
        receiver.start()
        assert client.flush(5)
    assert any(r.name == "chatwatch.sdk" and r.levelno >= logging.WARNING for r in caplog.records)
    assert "401" in caplog.text
    assert secret not in caplog.text
    assert secret not in repr(client)
    assert client.stats()["rejected"] == 1


def test_store_transport_ingests_validated_events(make_client: MakeClient) -> None:
    """StoreTransport hands the store parsed Event models, ts in Unix seconds."""
    sink = ValidatingSink()
    client = make_client(transport=StoreTransport(sink))
    with client.turn(session_id="s1") as t:
        t.llm_call("m", 3, 4, 5.0)
    assert client.flush(5)
    assert [e.type for e in sink.ingested] == ["llm_call", "turn"]
    assert abs(sink.ingested[1].ts - time.time()) < 60


def test_store_transport_with_the_real_store(make_client: MakeClient, tmp_path: Path) -> None:
    """The no-server mode writes into a real SQLite store, and a resent batch counts once."""
    store_module = pytest.importorskip("chatwatch.store")
    from sqlalchemy import text

    store = store_module.Store(f"sqlite:///{tmp_path / 'cw.db'}")
    try:
        transport = StoreTransport(store)
        client = make_client(transport=transport)
        with client.turn(session_id="s1") as t:
            t.llm_call("gpt-4o", 10, 20, 30.0)
        assert client.flush(5)
        batch = [{"type": "message", "id": "dup-1", "ts": time.time(), "sender_type": "user"}]
        transport.send(batch)
        transport.send(batch)
        with store.read() as conn:
            count = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
        assert count == 3
    finally:
        store.close()


def test_events_are_sent_at_interpreter_exit(tmp_path: Path) -> None:
    """A process that exits without close() still delivers its queue (atexit)."""
    out = tmp_path / "out.jsonl"
    script = f"""
import itertools
import json
from chatwatch.sdk import Client, FunctionTransport

def write(batch):
    with open({str(out)!r}, "a") as f:
        f.write(json.dumps(batch) + "\\n")

client = Client(transport=FunctionTransport(write), flush_interval=60)
for _ in range(3):
    client.message("user", "s1")
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
    events = [e for line in out.read_text().splitlines() for e in json.loads(line)]
    assert len(events) == 3
    parse_events(events)


def test_concurrent_recording_loses_nothing_and_counts_exactly(make_client: MakeClient) -> None:
    """Many threads recording at once: every event is sent once, or counted as dropped."""
    capture = CaptureTransport()
    client = make_client(transport=capture, max_queue=3000, batch_size=200)

    def work(n: int) -> list[str]:
        return [client.cache_lookup(i % 2 == 0, user_id=f"u{n}") for i in range(2000)]

    threads_ids: list[list[str]] = [[] for _ in range(8)]
    threads = [
        threading.Thread(target=lambda n=n: threads_ids[n].extend(work(n))) for n in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert client.flush(10)
    stats = client.stats()
    sent_ids = [e["id"] for e in capture.events]
    assert len(set(sent_ids)) == len(sent_ids)
    assert stats["recorded"] == 16_000
    assert stats["sent"] == len(sent_ids)
    assert stats["sent"] + stats["dropped"] == 16_000
    assert len({i for ids in threads_ids for i in ids}) == 16_000
