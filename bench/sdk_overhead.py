"""What recording costs the app: the SDK's record path against Prometheus and OpenTelemetry.

Prints the median CPU the calling thread spends recording one whole turn (turn + LLM
call + RAG search, through the direct record methods, with the background sender running
and shipping to a no-op transport), the per-event cost, the same turn as a
``client.turn()`` block, the sender thread's cost per event (dicts, msgspec JSON, gzip),
and in the same run the median of a prometheus_client ``Counter.inc()`` +
``Histogram.observe()`` pair and of an OpenTelemetry SDK span started and ended. Samples
of all cases are interleaved so drift in machine speed hits all alike.

    .venv/bin/python bench/sdk_overhead.py [--samples N] [--calls N]
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry, Counter, Histogram

from chatwatch.sdk import Client, FunctionTransport
from chatwatch.sdk.transports import encode

TARGET_US_PER_EVENT = 2.0
TARGET_OTEL_FACTOR = 10.0  # an event at least 10x cheaper than an OTel span, same run
TARGET_SCOPE_US = 10.0  # a client.turn() block
TARGET_SENDER_US = 5.0  # the sender's dicts + encoding + gzip per event
EVENTS_PER_TURN = 3


def _noop(batch: list[dict[str, Any]]) -> None:
    return None


def sdk_turn(client: Client) -> Callable[[], None]:
    record_turn, llm_call, rag_search = client.record_turn, client.llm_call, client.rag_search

    def turn() -> None:
        run_id = record_turn(812.5, topic="billing", session_id="s-42", user_id="u-7")
        llm_call("gpt-4o-mini", 420, 180, 640.0, run_id=run_id, session_id="s-42")
        rag_search(0.71, 0.88, 5, 35.0, run_id=run_id, session_id="s-42")

    return turn


def sdk_scope_turn(client: Client) -> Callable[[], None]:
    def turn() -> None:
        with client.turn(session_id="s-42", user_id="u-7", topic="billing") as scope:
            scope.llm_call("gpt-4o-mini", 420, 180, 640.0)
            scope.rag_search(similarity=0.71, top_similarity=0.88, results=5)

    return turn


def prometheus_pair() -> Callable[[], None]:
    registry = CollectorRegistry()
    messages = Counter("chat_messages_total", "Messages", registry=registry)
    latency = Histogram(
        "chat_response_time_seconds",
        "Response time",
        buckets=(0.1, 0.5, 1, 2, 5, 10),
        registry=registry,
    )
    inc, observe = messages.inc, latency.observe

    def pair() -> None:
        inc()
        observe(0.8125)

    return pair


def otel_span() -> Callable[[], None]:
    tracer = TracerProvider().get_tracer("bench")

    def span() -> None:
        tracer.start_span("chat turn").end()

    return span


def sample(fn: Callable[[], None], calls: int) -> float:
    """Nanoseconds of this thread's CPU per call over one batch of ``calls`` calls: what
    the calling (app) thread pays; the sender thread's share is measured apart."""
    start = time.thread_time_ns()
    for _ in range(calls):
        fn()
    return (time.thread_time_ns() - start) / calls


def sender_cost(client: Client, batch_size: int = 500, rounds: int = 40) -> float:
    """µs per event the sender thread spends on a batch before HTTP: the events' dicts
    made from the queued tuples, msgspec JSON, gzip (level 1), as HTTPTransport sends."""
    capture = Client(transport=FunctionTransport(_noop), max_queue=10**6, heartbeat_interval=None)
    turn = sdk_turn(capture)
    for _ in range(batch_size // EVENTS_PER_TURN):
        turn()
    queued = list(capture._sender.queue)
    capture._sender.queue.clear()
    capture._sender._taken += len(queued)  # taken here, not dropped
    capture.close()
    take = capture._sender._take
    spent = 0
    for _ in range(rounds):
        q: deque[Any] = deque(queued)
        start = time.thread_time_ns()
        body = encode(take(q))
        gzip.compress(body, compresslevel=1)
        spent += time.thread_time_ns() - start
    return spent / rounds / len(queued) / 1000


def measure(cases: dict[str, Callable[[], None]], samples: int, calls: int) -> dict[str, float]:
    for fn in cases.values():  # warm up
        sample(fn, calls)
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(samples):
        for name, fn in cases.items():
            results[name].append(sample(fn, calls))
    return {name: statistics.median(values) / 1000 for name, values in results.items()}


def _load(avg: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in avg)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()

    load_before = os.getloadavg()
    client = Client(transport=FunctionTransport(_noop), max_queue=100_000, heartbeat_interval=None)
    try:
        medians = measure(
            {
                "sdk": sdk_turn(client),
                "scope": sdk_scope_turn(client),
                "prom": prometheus_pair(),
                "otel": otel_span(),
            },
            args.samples,
            args.calls,
        )
        stats = client.stats()
    finally:
        client.close()

    turn_us, prom_us, otel_us = medians["sdk"], medians["prom"], medians["otel"]
    event_us = turn_us / EVENTS_PER_TURN
    scope_us = medians["scope"]
    sender_us = sender_cost(client)
    factor = otel_us / event_us
    loads = (load_before, os.getloadavg())
    print("load average (1/5/15 min), before / after: " + " / ".join(_load(x) for x in loads))
    print(
        f"samples: {args.samples} x {args.calls} calls, median CPU of the calling thread per call"
    )
    print(f"chatwatch SDK, one turn (turn + llm_call + rag_search): {turn_us:8.3f} µs")
    print(f"chatwatch SDK, per event:                              {event_us:8.3f} µs")
    print(f"chatwatch SDK, the same turn as a client.turn() block:  {scope_us:8.3f} µs")
    print(f"SDK sender: dicts + msgspec JSON + gzip, per event:     {sender_us:8.3f} µs")
    print(f"prometheus_client Counter.inc + Histogram.observe:      {prom_us:8.3f} µs")
    print(f"OpenTelemetry SDK span start + end (no exporter):       {otel_us:8.3f} µs")
    print(f"SDK event / prometheus pair: {event_us / prom_us:5.2f}x")
    print(f"OTel span / SDK event:       {factor:5.1f}x cheaper")
    print(f"OTel span / client.turn() block (3 events): {otel_us / scope_us:5.2f}x")
    print(f"sender / SDK event (the background thread's share): {sender_us / event_us:5.2f}x")
    print(f"sender: sent {stats['sent']}, dropped {stats['dropped']}, queued {stats['queued']}")
    print(
        f"record <= {TARGET_US_PER_EVENT} µs per event: {verdict(event_us <= TARGET_US_PER_EVENT)}"
    )
    print(
        f">= {TARGET_OTEL_FACTOR:.0f}x cheaper than a span: {verdict(factor >= TARGET_OTEL_FACTOR)}"
    )
    print(f"client.turn() block <= {TARGET_SCOPE_US} µs: {verdict(scope_us <= TARGET_SCOPE_US)}")
    print(f"sender <= {TARGET_SENDER_US} µs per event: {verdict(sender_us <= TARGET_SENDER_US)}")


if __name__ == "__main__":
    main()
