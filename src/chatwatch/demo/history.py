"""Backfill: the last hours of demo traffic written straight into the store, so the
charts have a history the moment the server starts.

The same :class:`~chatwatch.demo.traffic.Traffic` then carries on live, so sessions that
were open at the end of the backfill finish over HTTP like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chatwatch.demo.traffic import Traffic, to_event
from chatwatch.events import parse_events
from chatwatch.sdk._ids import new_id
from chatwatch.store import Store

__all__ = ["Stream", "backfill"]


@dataclass
class Stream:
    """One demo assistant: its service name and the traffic it generates."""

    service: str
    traffic: Traffic


def backfill(
    store: Store,
    streams: Sequence[Stream],
    start: float,
    until: float,
    *,
    step: float = 60.0,
    batch_size: int = 5_000,
    on_progress: Callable[[float, int], None] | None = None,
) -> int:
    """Ingest every call due in [start, until) and return how many events were stored.

    Ids are time-ordered like the SDK's (see ``chatwatch.sdk._ids``), so the backfill
    appends to the primary-key index instead of scattering over it.
    """
    stored = 0
    pending: list[dict[str, Any]] = []
    at = start
    while at < until:
        at = min(at + step, until)
        for stream in streams:
            for call in stream.traffic.advance(at):
                pending.append(to_event(call, new_id(call.at), stream.service))
        if len(pending) >= batch_size or at >= until:
            stored += store.ingest(parse_events(pending)).accepted if pending else 0
            pending = []
        if on_progress is not None:
            on_progress(at, stored)
    return stored
