"""A store survives os.fork(): the child opens its own connections."""

from __future__ import annotations

import os
import time

from chatwatch.events import parse_events
from chatwatch.store import Store


def test_child_process_writes_through_its_own_connections(sqlite_url: str) -> None:
    """Parent and forked child both ingest through one Store object; nothing is lost."""
    store = Store(sqlite_url)
    now = time.time()
    store.ingest(
        parse_events([{"type": "turn", "id": "parent-1", "ts": now, "response_time_ms": 1}])
    )
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            store.ingest(
                parse_events([{"type": "turn", "id": "child-1", "ts": now, "response_time_ms": 1}])
            )
        except Exception:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    store.ingest(
        parse_events([{"type": "turn", "id": "parent-2", "ts": now, "response_time_ms": 1}])
    )
    minute = int(now // 60) * 60
    assert store.aggregate(minute, minute + 60).n("turns") == 3
    store.close()
