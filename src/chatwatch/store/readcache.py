"""Sealed rollup buckets, remembered: a window read costs only its newest buckets.

A 30-day window is a few hundred thousand rollup rows, but all except the last minutes
are buckets that no longer change. Reads are split at ``sealed_until`` (the hour
boundary ``settle_s`` before now): hour and day segments before it are cached whole,
minute buckets before it one by one (so a window sliding by a minute reuses all but one),
and only what is newer is read from the database each time.

A sealed bucket changes only when an event arrives late. This process's own writes
drop every entry they could touch at once (``invalidate``, called by ``Store.ingest``);
writes by other processes are seen when an entry expires (``ttl_s``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

from chatwatch.store.rollup import DAY, HOUR, MINUTE

__all__ = ["ReadCache"]

Segment = tuple[int, int, int]
_V = TypeVar("_V")
Fetch = Callable[[Sequence[Segment], bool], dict[Any, _V]]


class ReadCache:
    def __init__(self, ttl_s: float = 60.0, settle_s: int = 300, max_entries: int = 10_000):
        self.ttl_s = ttl_s
        self.settle_s = settle_s
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[float, int, dict[Any, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self._newest = 0  # the latest end of any entry: later events invalidate nothing
        self._puts = 0

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0

    def sealed_until(self, now: float) -> int:
        return int(now - self.settle_s) // HOUR * HOUR

    def split(self, segments: Sequence[Segment], now: float) -> tuple[list[Segment], list[Segment]]:
        """(cacheable units, segments to read fresh): minute units are single buckets."""
        sealed = self.sealed_until(now)
        units: list[Segment] = []
        fresh: list[Segment] = []
        for res, lo, hi in segments:
            whole = DAY if res == DAY else res  # sealed is hour-aligned; days cut at days
            cut = max(lo, min(hi, sealed) // whole * whole)
            if cut > lo:
                if res == MINUTE:
                    units.extend((MINUTE, b, b + MINUTE) for b in range(lo, cut, MINUTE))
                else:
                    units.append((res, lo, cut))
            if cut < hi:
                fresh.append((res, cut, hi))
        return units, fresh

    def read(
        self,
        kind: Hashable,
        segments: Sequence[Segment],
        now: float,
        fetch: Fetch[_V],
        merge: Callable[[list[dict[Any, _V]]], dict[Any, _V]],
    ) -> dict[Any, _V]:
        """``merge`` of the cached units, the missing units (read and remembered) and the
        fresh segments. ``fetch(segments, by_bucket)`` reads the database; with
        ``by_bucket`` its keys start with the bucket."""
        if not self.enabled:
            return fetch(segments, False)
        units, fresh = self.split(segments, now)
        parts: list[dict[Any, _V]] = []
        missing_minutes: list[Segment] = []
        for unit in units:
            hit = self._get((kind, unit))
            if hit is not None:
                parts.append(hit)
            elif unit[0] == MINUTE:
                missing_minutes.append(unit)
            else:
                value = fetch([unit], False)
                self._put((kind, unit), unit[2], value)
                parts.append(value)
        if missing_minutes:
            parts.extend(self._fill_minutes(kind, missing_minutes, fetch))
        if fresh:
            parts.append(fetch(fresh, False))
        return merge(parts)

    def _fill_minutes(
        self, kind: Hashable, minutes: list[Segment], fetch: Fetch[_V]
    ) -> list[dict[tuple[Any, ...], _V]]:
        ranges: list[Segment] = []
        for _, lo, hi in minutes:
            if ranges and ranges[-1][2] == lo:
                ranges[-1] = (MINUTE, ranges[-1][1], hi)
            else:
                ranges.append((MINUTE, lo, hi))
        by_bucket: dict[int, dict[tuple[Any, ...], _V]] = {lo: {} for _, lo, _ in minutes}
        for key, cell in fetch(ranges, True).items():
            by_bucket[int(key[0])][key[1:]] = cell
        for bucket, part in by_bucket.items():
            self._put((kind, (MINUTE, bucket, bucket + MINUTE)), bucket + MINUTE, part)
        return list(by_bucket.values())

    def _get(self, key: Hashable) -> Any:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if found[0] < time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return found[2]

    def _put(self, key: Hashable, hi: int, value: dict[Any, Any]) -> None:
        with self._lock:
            now = time.monotonic()
            self._entries[key] = (now + self.ttl_s, hi, value)
            self._newest = max(self._newest, hi)
            self._puts += 1
            if self._puts % 256 == 0:  # minutes a sliding window left behind expire here
                for stale in [k for k, (expires, _, _) in self._entries.items() if expires < now]:
                    del self._entries[stale]
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def invalidate(self, since: float) -> None:
        """Forget every entry holding time at or after ``since`` (late events arrived)."""
        if since >= self._newest:
            return
        with self._lock:
            stale = [k for k, (_, hi, _) in self._entries.items() if hi > since]
            for key in stale:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._newest = 0
