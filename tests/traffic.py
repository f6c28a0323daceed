"""Demo traffic cut into SDK-sized batches, with retried repeats, for store tests."""

from __future__ import annotations

import random

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
