"""Server time of the dashboard's data URL (``/analytics/api/data``) over a big store.

Fills a SQLite store with ``--events`` events (default 10 M, over 30 days, with the bulk
loader; the file is kept and reused by later runs), starts the real server, logs in, and
times the data URL for the 1 h, 24 h, 7 d and 30 d ranges: wall time of the request on
loopback, and the server-side time of building the document. In the same run it times
``/monitoring/metrics`` (one catalogue reading) and a naive SQL scan of the raw events
(sessions and failed turns per hour over 30 days, a small part of what the page shows)
as baselines. Target: median under 300 ms at 10 M events.

    .venv/bin/python bench/dashboard.py [--events N] [--samples N] [--db PATH] [--refill]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _bulk import fill
from chatwatch.config import Settings
from chatwatch.dashboard.data import build_data
from chatwatch.dashboard.users import UserExists, create_user
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from chatwatch.store import Store
from live_server import LiveServer

TARGET_MS = 300.0
PASSWORD = "bench-password-1"
NAIVE = """
SELECT CAST(ts / 3600 AS INTEGER) AS hour,
       SUM(CASE WHEN type = 'session_started' THEN 1 ELSE 0 END),
       SUM(CASE WHEN type = 'turn' AND data LIKE '%"success": false%' THEN 1 ELSE 0 END)
FROM events WHERE ts >= :since GROUP BY hour
"""


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _timed(call: object, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        call()  # type: ignore[operator]
        out.append(time.perf_counter() - started)
    return out


def _login(http: httpx.Client) -> None:
    form = http.get("/analytics/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    data = {"username": "bench", "password": PASSWORD, "csrf_token": token.group(1)}
    assert http.post("/analytics/login", data=data).status_code == 303


def _prepare(db: Path, events: int, refill: bool) -> str:
    url = f"sqlite:///{db}"
    if refill and db.exists():
        db.unlink()
    if not db.exists():
        print(f"filling {db} with {events:,} events over 30 days ...")
        stats = fill(url, events, days=30, seed=0)
        print(f"  {stats['events']:,.0f} events in {stats['seconds']:.0f} s")
    store = Store(url)
    with contextlib.suppress(UserExists):
        create_user(store, "bench", PASSWORD)
    with store.read() as conn:
        stored = conn.execute(text("SELECT COUNT(*) FROM events")).scalar_one()
    store.close()
    print(f"store: {db} ({stored:,} events, {db.stat().st_size / 1e9:.2f} GB)")
    return url


def stored_note(url: str) -> str:
    store = Store(url)
    with store.read() as conn:
        n = conn.execute(text("SELECT COUNT(*) FROM events")).scalar_one()
    store.close()
    return f"{n / 1e6:.1f} M events"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--refill", action="store_true")
    args = parser.parse_args()
    db = args.db or Path(f"/tmp/chatwatch-bench-dashboard-{args.events}.db")
    url = _prepare(db, args.events, args.refill)
    settings = Settings(
        database_url=url, alerts_enabled=False, maintenance_interval_s=0, _env_file=None
    )  # type: ignore[call-arg]
    store = Store(url)
    app = create_app(settings, store)
    server = LiveServer(app).start()
    cat = app.state.chatwatch.catalogue
    rows = []
    try:
        read = {"Authorization": f"Bearer {create_key(store, 'read', 'bench')}"}
        with httpx.Client(base_url=server.url, timeout=120) as http:
            _login(http)
            for window in ("1h", "24h", "7d", "30d"):
                cold = _timed(
                    lambda w=window: http.get("/analytics/api/data", params={"window": w}), 1
                )
                wall = _timed(
                    lambda w=window: http.get("/analytics/api/data", params={"window": w}),
                    args.samples,
                )
                build = _timed(
                    lambda w=window: build_data(cat, cat.reading(w), "/analytics"), args.samples
                )
                api = _timed(
                    lambda w=window: http.get(
                        "/monitoring/metrics", params={"window": w}, headers=read
                    ),
                    args.samples,
                )
                rows.append(
                    (window, cold[0] * 1000, _median_ms(wall), _median_ms(build), _median_ms(api))
                )
        since = time.time() - 30 * 86400
        with store.read() as conn:
            naive = _timed(lambda: conn.execute(text(NAIVE), {"since": since}).all(), 1)
    finally:
        server.stop()
        store.close()
    naive_ms = _median_ms(naive)
    print(f"\n/analytics/api/data at {stored_note(url)} (SQLite), median of {args.samples}")
    head = ("range", "first request", "request", "build", "/monitoring/metrics")
    print("{:>6} {:>14} {:>9} {:>7} {:>20}   (ms)".format(*head))
    for window, cold_ms, wall, build, api in rows:
        print(f"{window:>6} {cold_ms:>14.1f} {wall:>9.1f} {build:>7.1f} {api:>20.1f}")
    worst = max(r[2] for r in rows)
    print(f"\nnaive scan of raw events (sessions, failed turns per hour, 30 d): {naive_ms:,.0f} ms")
    print(f"slowest data URL median vs the naive scan: {naive_ms / worst:.0f}x faster")
    verdict = "met" if worst < TARGET_MS else "MISSED"
    print(f"target: median under {TARGET_MS:.0f} ms at every range -> {verdict} ({worst:.1f} ms)")


if __name__ == "__main__":
    main()
