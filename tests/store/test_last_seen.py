"""When each service last sent anything: the sealed hours are remembered between reads,
and a late event or a new service is seen at once, as a store without the cache sees it."""

from __future__ import annotations

import time
from itertools import count
from typing import Any

from chatwatch.events import parse_events
from chatwatch.store import Store
from chatwatch.store.rollup import HOUR, MINUTE

_ids = count()


def turn(service: str, ts: float) -> dict[str, Any]:
    return {
        "type": "turn",
        "id": f"t{next(_ids)}",
        "ts": ts,
        "service": service,
        "response_time_ms": 120,
    }


def minute(ts: float) -> float:
    return float(int(ts) // MINUTE * MINUTE)


def test_sealed_hours_are_remembered_and_late_events_seen(db_url: str) -> None:
    cached, plain = Store(db_url), Store(db_url, cache_ttl_s=0)
    try:
        now = time.time()
        since = now - 30 * 86400
        old = now - 5 * HOUR
        cached.ingest(parse_events([turn("a", old), turn("b", old - 2 * HOUR)]))
        first = cached.last_seen(since)
        assert first == {"a": minute(old), "b": minute(old - 2 * HOUR)}
        assert cached.last_seen(since) == first == plain.last_seen(since)
        # late events into sealed hours, a new service among them
        later = now - 3 * HOUR
        cached.ingest(parse_events([turn("b", later), turn("c", old - HOUR)]))
        want = {"a": minute(old), "b": minute(later), "c": minute(old - HOUR)}
        assert cached.last_seen(since) == want == plain.last_seen(since)
        assert cached.last_seen(since, "b") == {"b": minute(later)}
        # the open hour is always read fresh
        cached.ingest(parse_events([turn("a", now - 1)]))
        assert cached.last_seen(since)["a"] == minute(now - 1) == plain.last_seen(since)["a"]
    finally:
        cached.close()
        plain.close()
