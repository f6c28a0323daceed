"""Batches validated in worker processes: the same result as in the server's own process,
clear errors across the process boundary, and a worker that dies costs nothing."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from chatwatch.server.inflate import BadGzip, TooLarge
from chatwatch.server.parse_pool import BatchTooLarge, InvalidBatch, ParsePool, parse_and_prepare
from chatwatch.store import Store
from chatwatch.store.writer import Prepared
from traffic import traffic_batches


def body_of(index: int = 0) -> bytes:
    events = traffic_batches()[index]
    return json.dumps([e.model_dump(mode="json", exclude_none=True) for e in events]).encode()


@pytest.fixture(scope="module")
def pool() -> Iterator[ParsePool]:
    made = ParsePool(1)
    made.start()
    yield made
    made.close()


def run(pool: ParsePool, body: bytes, max_events: int = 10_000) -> Prepared:
    return asyncio.run(pool.prepare(body, max_events, False))


def test_a_worker_prepares_what_the_server_would(pool: ParsePool) -> None:
    body = body_of()
    here = parse_and_prepare(body, 10_000, False)
    there = run(pool, body)
    assert there.events is None and there.body == body  # models stay in the worker
    assert there.rows == here.rows
    assert there.delta.counts == here.delta.counts
    assert there.delta.hist == here.delta.hist
    assert there.delta.sessions == here.delta.sessions
    assert (there.size, there.min_ts) == (here.size, here.min_ts)
    assert there.unique_events() == here.events  # parsed again on demand


def test_errors_cross_the_process_boundary(pool: ParsePool) -> None:
    events: list[dict[str, Any]] = json.loads(body_of())
    events[3]["response_time_ms"] = -1
    events[3]["type"] = "turn"
    with pytest.raises(InvalidBatch) as invalid:
        run(pool, json.dumps(events).encode())
    assert {(d["index"], d["field"]) for d in invalid.value.details} >= {(3, "response_time_ms")}
    with pytest.raises(BatchTooLarge) as large:
        run(pool, body_of(), max_events=5)
    assert large.value.limit == 5


def test_a_dead_worker_is_replaced(pool: ParsePool) -> None:
    run(pool, body_of())
    executor = pool._executor()
    for process in list(executor._processes.values()):  # type: ignore[union-attr]
        os.kill(process.pid, signal.SIGKILL)
    prepared = run(pool, body_of(1))  # prepared in the server's process this time
    assert prepared.rows
    assert pool._executor() is not executor
    assert run(pool, body_of(2)).events is None  # and by a new worker again


def test_a_batch_from_a_worker_meeting_stored_ids_is_recounted(pool: ParsePool) -> None:
    store = Store("sqlite://")
    try:
        body = body_of()
        first = run(pool, body)
        assert store.ingest_prepared([first])[0].accepted == len(first.rows)
        events: list[dict[str, Any]] = json.loads(body)
        fresh = dict(events[0], id="fresh-1")
        again = run(pool, json.dumps([*events[:5], fresh]).encode())
        result = store.ingest_prepared([again])[0]
        assert (result.accepted, result.duplicates) == (1, 5)
        with store.read() as conn:
            stored = conn.exec_driver_sql("SELECT count(*) FROM events").scalar()
        assert stored == len(first.rows) + 1
    finally:
        store.close()


@pytest.mark.parametrize("processes", [0, 1])
def test_a_gzip_body_is_inflated_off_the_loop_with_its_limit(processes: int) -> None:
    """Given gzip, the pool inflates it on a thread (or before its worker) and prepares
    what the plain body gives; past the limit it is TooLarge, not gzip BadGzip."""
    made = ParsePool(processes)
    try:
        body = body_of()
        here = parse_and_prepare(body, 10_000, False)

        def sent(data: bytes, limit: int) -> Prepared:
            return asyncio.run(made.prepare(data, 10_000, False, gzip_limit=limit))

        there = sent(gzip.compress(body), len(body))
        assert there.rows == here.rows and there.delta.counts == here.delta.counts
        with pytest.raises(TooLarge):
            sent(gzip.compress(body), len(body) - 1)
        with pytest.raises(BadGzip):
            sent(b"not gzip at all", len(body))
    finally:
        made.close()
