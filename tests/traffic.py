"""Demo traffic cut into SDK-sized batches, with retried repeats, for store tests."""

from __future__ import annotations

import random
import time
from typing import Any

from chatwatch.demo.traffic import Traffic, to_event
from chatwatch.events import Event, parse_events

START = 1_790_000_000.0


def traffic_batches(size: int = 150) -> list[list[Event]]:
    """Ten minutes of demo traffic before ``START`` in time order, cut into batches, with
    retried repeats mixed in (sessions, reconnects, escalations and ratings included)."""
    traffic = Traffic(random.Random(5), lambda: START, rate=1.0, start=START - 600)
    calls = [c for batch in traffic.run(START) for c in batch]
    events = parse_events([to_event(c, f"e{i:07d}", "sophie") for i, c in enumerate(calls)])
    batches = [events[i : i + size] for i in range(0, len(events), size)]
    out: list[list[Event]] = []
    for i, batch in enumerate(batches):
        out.append(batch)
        if i % 4 == 1:
            out.append(batches[i - 1][-20:] + batch[:10])  # a retry overlapping two batches
    out.append(out[3])  # one batch sent again whole
    return out


def sdk_events(n: int, batch_size: int = 2000, seed: int = 7) -> list[dict[str, Any]]:
    """About ``n`` events of demo traffic as the SDK records them (``chatwatch.Client``
    record calls, batched as its sender batches them), times around now."""
    from chatwatch.sdk import CaptureTransport, Client

    capture = CaptureTransport()
    client = Client(
        transport=capture,
        service="bench",
        batch_size=batch_size,
        max_queue=n + 1,
        heartbeat_interval=None,
    )
    now = time.time()
    traffic = Traffic(random.Random(seed), time.time, rate=50.0, start=now - 3600, daily=False)
    made = 0
    for calls in traffic.run(now + 3600, step=30.0):
        for call in calls:
            getattr(client, call.method)(**call.kwargs)
        made += len(calls)
        if made >= n:
            break
    client.close(timeout=60)
    return capture.events[:n]
