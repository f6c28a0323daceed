"""The amplification bodies of issue 11, for tests/server/test_hostile_bodies.py and
bench/hostile.py: each a (body, headers) pair for ``POST /api/v1/events``."""

from __future__ import annotations

import functools
import gzip
import json
import time
import uuid
from typing import Any

__all__ = ["GZIP", "hostile_bodies", "message", "normal_body"]

GZIP = {"Content-Encoding": "gzip"}


def message(i: int, **fields: Any) -> dict[str, Any]:
    """A valid event, dated now."""
    return {
        "type": "message",
        "id": f"m{i}-{uuid.uuid4().hex[:8]}",
        "ts": time.time(),
        "sender_type": "user",
        **fields,
    }


@functools.cache
def hostile_bodies() -> dict[str, tuple[bytes, dict[str, str]]]:
    ones = gzip.compress(b"[" + b"1," * 999_999 + b"1]", 9)
    event = json.dumps(message(0)).encode()
    many = gzip.compress(b"[" + b",".join([event] * 400_000) + b"]", 9)
    over = json.dumps([message(i) for i in range(10_001)]).encode()
    garbage = json.dumps(
        [{"type": "turn", "id": f"x{i}", "ts": "no", "bad": 1} for i in range(10_000)]
    ).encode()
    deep = gzip.compress(b"[" * 1_000_000 + b"]" * 1_000_000, 9)
    key = json.dumps([{"k" * 1_000_000: 1, "type": "t" * 1_000_000}]).encode()
    return {
        "a million 1s in 2 KB of gzip": (ones, GZIP),
        "400 000 events gzipped": (many, GZIP),
        "10 001 events": (over, {}),
        "10 000 invalid events": (garbage, {}),
        "a million nested arrays": (deep, GZIP),
        "a megabyte key and tag": (key, {}),
    }


def normal_body(size: int, gzipped: bool, max_events: int = 10_000) -> bytes:
    """A valid batch about ``size`` bytes as sent (gzipped or not), at most ``max_events``."""
    n = 16
    while True:
        events = [message(i, text="hello " * 8) for i in range(n)]
        body = json.dumps(events).encode()
        sent = gzip.compress(body) if gzipped else body
        if len(sent) >= size or n >= max_events:
            return sent
        n = min(max_events, max(n + 1, int(n * size / max(len(sent), 1) * 1.05)))
