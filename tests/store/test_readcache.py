"""Remembered sealed buckets never change an answer: late events are seen at once by the
process that wrote them, and by other processes once the entries expire."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from chatwatch.events import parse_events
from chatwatch.store import Filters, Store
from chatwatch.store.readcache import ReadCache
from chatwatch.store.rollup import DAY, HOUR, MINUTE

NOW = datetime(2026, 11, 10, 12, 30, 27, tzinfo=UTC).timestamp()
END = int(NOW // MINUTE) * MINUTE + MINUTE


def _turn(i: int, ts: float, rt: float = 500.0, user: str = "u1") -> dict[str, Any]:
    stamp = datetime.fromtimestamp(ts, UTC).isoformat()
    return {
        "id": f"t{i}",
        "ts": stamp,
        "type": "turn",
        "service": "a",
        "user_id": user,
        "response_time_ms": rt,
    }


def _turns(store: Store, start: int) -> int:
    return store.aggregate(start, END, now=NOW).n("turns")


def test_split_caches_sealed_units_and_reads_the_rest_fresh() -> None:
    """Hours and days before the sealed hour are whole units, older minutes single ones."""
    cache = ReadCache(settle_s=300)
    sealed = cache.sealed_until(NOW)
    assert sealed == int(NOW - 300) // HOUR * HOUR
    units, fresh = cache.split(
        [(MINUTE, sealed - 180, sealed), (HOUR, sealed - 5 * HOUR, sealed), (MINUTE, sealed, END)],
        NOW,
    )
    assert units == [
        (MINUTE, sealed - 180, sealed - 120),
        (MINUTE, sealed - 120, sealed - 60),
        (MINUTE, sealed - 60, sealed),
        (HOUR, sealed - 5 * HOUR, sealed),
    ]
    assert fresh == [(MINUTE, sealed, END)]
    today = int(NOW) // DAY * DAY
    units, fresh = cache.split([(DAY, today - 3 * DAY, today + DAY)], NOW)
    assert units == [(DAY, today - 3 * DAY, today)]
    assert fresh == [(DAY, today, today + DAY)]


def test_cached_reads_equal_uncached_reads(sqlite_url: str) -> None:
    """Overlapping windows, filters and histograms answer as a store without the cache does."""
    store = Store(sqlite_url)
    plain = Store(sqlite_url, cache_ttl_s=0)
    events = [_turn(i, NOW - i * 97.0, rt=100.0 + i, user=f"u{i % 7}") for i in range(3000)]
    store.ingest(parse_events(events))
    for _ in range(2):
        for hours in (1, 5, 24, 72):
            start = END - hours * HOUR
            for f in (Filters(), Filters(service="a"), Filters(service="b")):
                assert store.aggregate(start, END, f, now=NOW) == plain.aggregate(
                    start, END, f, now=NOW
                )
                assert store.histograms(["turn_rt"], start, END, f, now=NOW) == plain.histograms(
                    ["turn_rt"], start, END, f, now=NOW
                )
            assert store.top_users(start, END) == plain.top_users(start, END)
        assert sorted(store.totals(["turns", "rt_prom"])) == sorted(
            plain.totals(["turns", "rt_prom"])
        )
    store.close()
    plain.close()


def test_a_late_event_is_counted_at_once_by_the_writing_store(sqlite_url: str) -> None:
    """An event for a sealed hour drops the remembered buckets it falls in."""
    store = Store(sqlite_url)
    store.ingest(parse_events([_turn(i, NOW - 3 * HOUR - i * 60) for i in range(10)]))
    start = END - 24 * HOUR
    assert _turns(store, start) == 10
    assert _turns(store, start) == 10  # now from the cache
    store.ingest(parse_events([_turn(99, NOW - 5 * HOUR)]))
    assert _turns(store, start) == 11
    store.ingest(parse_events([_turn(98, NOW - 20 * HOUR, user="late")]))
    assert _turns(store, start) == 12
    assert ("late", 1) in store.top_users(start, END)
    store.close()


def test_other_processes_writes_are_seen_once_entries_expire(sqlite_url: str) -> None:
    """A second store (another process) writing late: seen after ``ttl_s``."""
    reader = Store(sqlite_url, cache_ttl_s=0.3)
    writer = Store(sqlite_url)
    writer.ingest(parse_events([_turn(1, NOW - 4 * HOUR)]))
    start = END - 24 * HOUR
    assert _turns(reader, start) == 1
    writer.ingest(parse_events([_turn(2, NOW - 4 * HOUR)]))
    time.sleep(0.35)
    assert _turns(reader, start) == 2
    reader.close()
    writer.close()


def test_expired_entries_are_swept_and_the_size_is_bounded() -> None:
    """Minutes a sliding window left behind do not pile up; nor does anything past max."""
    cache = ReadCache(ttl_s=0.05, max_entries=400)
    calls: list[int] = []

    def fetch(segments: Any, by_bucket: bool) -> dict[Any, int]:
        calls.append(len(segments))
        return {}

    def read(minute: int) -> None:
        segment = (MINUTE, END - 86400 + minute * MINUTE, END - 86400 + (minute + 1) * MINUTE)
        cache.read("k", [segment], NOW, fetch, lambda parts: {})

    for minute in range(300):
        read(minute)
    read(0)
    assert len(calls) == 300  # minute 0 came from the cache
    time.sleep(0.06)
    for minute in range(300, 600):
        read(minute)
    assert len(cache._entries) <= 400
    assert all(key[1][1] >= END - 86400 + 300 * MINUTE for key in cache._entries)
