"""The sessions explorer's data at 10 M events: ``GET /api/v1/sessions`` (what the
Sessions page reads, 50 rows a page) for the first page, a page 20 deep by cursor, and
each filter, over the real server; beside a naive ``OFFSET`` query for the same deep
page in the same run. Target: median under 300 ms.

Fills a SQLite store with ``--events`` events (default 10 M over 30 days, with the
bench bulk loader; the file is kept and reused).

    .venv/bin/python bench/sessions.py [--events N] [--samples N] [--db PATH] [--refill]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _bulk import fill, index_sessions
from chatwatch.config import Settings
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from chatwatch.store import Store
from live_server import LiveServer

TARGET_MS = 300.0
NAIVE = """SELECT * FROM sessions ORDER BY coalesce(started_at, last_seen) DESC
LIMIT 50 OFFSET :offset"""


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _time(client: httpx.Client, params: dict[str, Any], n: int) -> tuple[float, int]:
    out, rows = [], 0
    for _ in range(n):
        started = time.perf_counter()
        response = client.get("/api/v1/sessions", params=params)
        out.append(time.perf_counter() - started)
        response.raise_for_status()
        rows = len(response.json()["sessions"])
    return _median_ms(out), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--refill", action="store_true")
    args = parser.parse_args()
    db = args.db or Path(f"/tmp/chatwatch-bench-dashboard-{args.events}.db")
    url = f"sqlite:///{db}"
    if args.refill or not db.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        made = fill(url, args.events, days=30)
        print(f"filled {made['events']:,.0f} events in {made['seconds']:.0f} s")
    store = Store(url)
    with store.read() as conn:
        indexed = conn.execute(text("SELECT 1 FROM event_sessions LIMIT 1")).first()
    if indexed is None:  # a file filled before the loader wrote the session index
        index_sessions(store)
        print("filled the session index of an older bench file")
    with store.read() as conn:
        n_sessions = conn.execute(text("SELECT count(*) FROM sessions")).scalar()
        user = conn.execute(
            text(
                "SELECT user_id FROM sessions WHERE user_id IS NOT NULL "
                "ORDER BY last_seen DESC LIMIT 1"
            )
        ).scalar()
        sid = conn.execute(text("SELECT session_id FROM sessions LIMIT 1 OFFSET 1000")).scalar()
    settings = Settings(
        database_url=url, alerts_enabled=False, maintenance_interval_s=0, _env_file=None
    )  # type: ignore[call-arg]
    server = LiveServer(create_app(settings, store)).start()
    client = httpx.Client(
        base_url=server.url,
        timeout=60,
        headers={"Authorization": f"Bearer {create_key(store, 'read')}"},
    )
    print(f"{args.events:,} events, {n_sessions:,} sessions; median of {args.samples} requests")
    try:
        cursor = None
        for _ in range(20):
            body = client.get("/api/v1/sessions", params={"cursor": cursor} if cursor else {})
            cursor = body.json()["next_cursor"]
        cases: list[tuple[str, dict[str, Any]]] = [
            ("first page", {}),
            ("page 21 (cursor)", {"cursor": cursor}),
            ("has_error=true", {"has_error": "true"}),
            ("escalated=true", {"escalated": "true"}),
            ("rated, mean <= 2", {"max_rating": 2}),
            (f"user_id={user}", {"user_id": user}),
            (f"q={sid}", {"q": sid}),
            ("service + user_type", {"service": "support", "user_type": "premium"}),
            ("topic=billing", {"topic": "billing"}),
            ("recently active", {"sort": "-last_seen"}),
            (
                "active since 1 h",
                {"since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))},
            ),
        ]
        worst = 0.0
        for label, params in cases:
            median, rows = _time(client, params, args.samples)
            worst = max(worst, median)
            empty = "  NO ROWS: this case measures nothing" if rows == 0 else ""
            print(f"  {label:32} {median:8.1f} ms  ({rows} rows){empty}")
        with store.read() as conn:
            naive = []
            for _ in range(args.samples):
                started = time.perf_counter()
                conn.execute(text(NAIVE), {"offset": 1000}).fetchall()
                naive.append(time.perf_counter() - started)
        print(f"  baseline: OFFSET 1000 page in SQL   {_median_ms(naive):8.1f} ms")
        verdict = "met" if worst < TARGET_MS else "NOT met"
        print(f"target: every median < {TARGET_MS:.0f} ms: {verdict} (slowest {worst:.1f} ms)")
    finally:
        client.close()
        server.stop()
        store.close()


if __name__ == "__main__":
    main()
