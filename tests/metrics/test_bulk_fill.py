"""The benchmarks' bulk loader writes rollups that agree with its raw events."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

from chatwatch.config import Settings
from chatwatch.metrics import Catalogue
from chatwatch.store import Store

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

from _bulk import fill


def test_fill_writes_events_rollups_and_sessions_that_agree(tmp_path: Path) -> None:
    """Counts read from the rollups equal counts of the raw rows, over every window."""
    url = f"sqlite:///{tmp_path / 'bulk.db'}"
    loaded = fill(url, 30_000, days=3, seed=1, progress=False)
    assert 25_000 < loaded["events"] < 35_000
    raw = sqlite3.connect(tmp_path / "bulk.db")
    assert raw.execute("SELECT count(*) FROM events").fetchone()[0] == loaded["events"]
    store = Store(url)
    cat = Catalogue(store, Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    for spec in ("1h", "24h", "all"):
        window = cat.window(spec)
        reading = cat.reading(window)
        rows = raw.execute(
            "SELECT type, data FROM events WHERE ts >= ? AND ts < ?", (window.start, window.end)
        ).fetchall()
        turns = [json.loads(d) for t, d in rows if t == "turn"]
        assert cat.value("total_requests", reading) == len(turns)
        assert cat.value("failed_requests", reading) == sum(not t["success"] for t in turns)
        assert cat.value("llm_calls", reading) == sum(t == "llm_call" for t, _ in rows)
        assert cat.value("sessions", reading) == sum(t == "session_started" for t, _ in rows)
        assert cat.value("escalations", reading) == sum(t == "escalation" for t, _ in rows)
    assert (
        cat.value("active_sessions", cat.reading("5m"))
        == raw.execute(
            "SELECT count(*) FROM sessions WHERE ended_at IS NULL AND last_seen >= ?",
            (cat.clock() - 1800,),
        ).fetchone()[0]
    )
    # the session index the store's reads go through (the topic filter, session pages)
    columns = "service, session_id, ts, id"
    indexed = raw.execute(f"SELECT {columns} FROM event_sessions ORDER BY id").fetchall()
    with_session = f"SELECT {columns} FROM events WHERE session_id IS NOT NULL ORDER BY id"
    assert indexed == raw.execute(with_session).fetchall() != []
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
