"""How fast the catalogue answers at scale: rollups against a naive scan of raw events.

Fills SQLite stores with 1 M and 10 M events over 30 days (``_bulk.fill``), then times,
as medians over several runs: ``GET /monitoring/metrics`` in-process (httpx over ASGI,
default window 24 h, every catalogue metric), the catalogue's 24 h read and its 30 d
read (every metric and breakdown; top users timed on their own). In the same run, the
same figures (requests, errors, mean and p50/p95/p99 response time, LLM calls, tokens,
latency and cost per model, RAG searches, similarity, search time, cache hits, sessions,
escalations, ratings, active sessions) are computed by a naive SQL scan of the raw
events, and the ratio printed.
The headline figures of both are printed side by side as a check that they agree.

Reads of sealed buckets are remembered by the store (``store/readcache.py``), as in a
running server; the first read of a fresh store is printed too ("first read").

Target: median under 50 ms at 10 M events on SQLite, and at least 20x the naive scan.

    .venv/bin/python bench/queries.py [--sizes 1000000,10000000] [--samples 15]
        [--naive-samples 3] [--dir DIR] [--reuse]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))

from _bulk import fill
from chatwatch.config import Settings
from chatwatch.metrics import Catalogue, Window
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from chatwatch.store import Store

TARGET_MS = 50.0
TARGET_RATIO = 20.0
console = Console(width=120)  # the table stays readable when piped


def _median_ms(run: Callable[[], object], samples: int) -> float:
    run()  # warm: first-query plans and page cache, as a running server has them
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def catalogue_read(cat: Catalogue, spec: str) -> Callable[[], dict[str, Any]]:
    """Every metric and breakdown of the window (top users aside: timed on its own), as
    the dashboard and alerts read them."""

    def run() -> dict[str, Any]:
        reading = cat.reading(spec)
        values: dict[str, Any] = dict(cat.values(reading))
        for name in cat.breakdowns:
            if name != "top_users":
                values[name] = cat.breakdown(name, reading)
        values["by_model"] = cat.by_model("llm_calls", reading)
        return values

    return run


def top_users_read(cat: Catalogue, spec: str) -> Callable[[], dict[str, float]]:
    """The top-users breakdown: per-user sums over whole UTC days (today's read fresh)."""
    return lambda: cat.breakdown("top_users", cat.reading(spec))


def http_read(app: Any) -> Callable[[], dict[str, Any]]:
    """``GET /monitoring/metrics`` through the whole ASGI stack, in this process."""
    loop = asyncio.new_event_loop()
    transport = httpx.ASGITransport(app=app)
    key = create_key(app.state.chatwatch.store, "read", "bench")
    client = httpx.AsyncClient(
        transport=transport, base_url="http://127.0.0.1", headers={"Authorization": f"Bearer {key}"}
    )

    def run() -> dict[str, Any]:
        response = loop.run_until_complete(client.get("/monitoring/metrics"))
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    return run


_TURNS = """
SELECT count(*),
       sum(json_extract(data, '$.success') = 0),
       avg(json_extract(data, '$.response_time_ms')),
       sum(json_extract(data, '$.cached') = 1),
       sum(coalesce(json_extract(data, '$.tokens'), 0)),
       sum(json_extract(data, '$.rag_used') = 1 OR json_extract(data, '$.rag_found') = 1),
       sum(json_extract(data, '$.rag_found') = 1)
FROM events WHERE type = 'turn' AND ts >= ? AND ts < ?"""
_RT = """SELECT json_extract(data, '$.response_time_ms') AS rt FROM events
WHERE type = 'turn' AND ts >= ? AND ts < ? ORDER BY rt"""
_LLM = """
SELECT json_extract(data, '$.model') AS model, count(*),
       sum(json_extract(data, '$.input_tokens')), sum(json_extract(data, '$.output_tokens')),
       avg(json_extract(data, '$.latency_ms')), sum(coalesce(json_extract(data, '$.cost_usd'), 0)),
       sum(json_extract(data, '$.success') = 0)
FROM events WHERE type = 'llm_call' AND ts >= ? AND ts < ? GROUP BY model"""
_RAG = """
SELECT count(*),
       avg(CASE WHEN json_extract(data, '$.results') > 0
                THEN json_extract(data, '$.similarity') END),
       avg(json_extract(data, '$.search_time_ms')),
       sum(json_extract(data, '$.results') = 0),
       sum(json_extract(data, '$.cache_hit') = 1)
FROM events WHERE type = 'rag_search' AND ts >= ? AND ts < ?"""
_OTHER = """
SELECT sum(type = 'session_started'), sum(type = 'escalation'),
       avg(CASE WHEN type = 'feedback' THEN json_extract(data, '$.rating') END)
FROM events WHERE ts >= ? AND ts < ?"""
_ACTIVE = """
SELECT count(*) FROM (
  SELECT service, session_id FROM events WHERE ts >= ? GROUP BY service, session_id
  HAVING sum(type = 'session_ended') = 0)"""


def naive_scan(path: str, window: Window, now: float) -> Callable[[], dict[str, Any]]:
    """The same figures straight from the raw events, one scan per kind of figure."""
    conn = sqlite3.connect(path)
    args = (window.start, window.end)

    def run() -> dict[str, Any]:
        turns = conn.execute(_TURNS, args).fetchone()
        rts = [row[0] for row in conn.execute(_RT, args)]
        pct = {
            f"p{round(q * 100)}": rts[math.floor(q * (len(rts) - 1))] if rts else None
            for q in (0.5, 0.95, 0.99)
        }
        llm = {row[0]: row[1:] for row in conn.execute(_LLM, args)}
        rag = conn.execute(_RAG, args).fetchone()
        other = conn.execute(_OTHER, args).fetchone()
        active = conn.execute(_ACTIVE, (now - 1800,)).fetchone()[0]
        return {
            "total_requests": turns[0],
            "failed_requests": turns[1],
            "avg_response_time_ms": turns[2],
            **pct,
            "llm_calls": sum(v[0] for v in llm.values()),
            "llm_tokens": sum(v[1] + v[2] for v in llm.values()),
            "llm_cost_usd": sum(v[4] for v in llm.values()),
            "rag_searches": rag[0],
            "rag_avg_similarity": rag[1],
            "sessions": other[0],
            "escalations": other[1],
            "satisfaction": other[2],
            "active_sessions": active,
        }

    return run


_CHECK = {  # naive figure -> catalogue metric
    "total_requests": "total_requests",
    "failed_requests": "failed_requests",
    "avg_response_time_ms": "avg_response_time_ms",
    "p95": "p95_response_time_ms",
    "llm_calls": "llm_calls",
    "llm_tokens": "llm_tokens",
    "llm_cost_usd": "llm_cost_usd",
    "rag_searches": "rag_searches",
    "rag_avg_similarity": "rag_avg_similarity",
    "sessions": "sessions",
    "escalations": "escalations",
    "satisfaction": "satisfaction",
    "active_sessions": "active_sessions",
}


def _agree(naive: dict[str, Any], cat: dict[str, Any]) -> str:
    """Which figures differ between the two (percentiles allowed their 1 %)."""
    off = []
    for key, name in _CHECK.items():
        a, b = naive[key], cat[name]
        if a is None or b is None:
            if a != b and (a or b):
                off.append(key)
            continue
        tolerance = 0.0101 if key.startswith("p") else 1e-6
        if abs(a - b) > tolerance * max(abs(a), abs(b), 1e-9):
            off.append(f"{key} ({a:.6g} vs {b:.6g})")
    return "all figures agree" if not off else "DIFFER: " + ", ".join(off)


def _app(settings: Settings, store: Store, now: float) -> Any:
    app = create_app(settings, store)
    app.state.chatwatch.catalogue = Catalogue(store, settings, clock=lambda: now)
    return app


def _cold_ms(url: str, settings: Settings, label: str, spec: str, now: float) -> float:
    """The first read of a fresh store (nothing remembered; the OS page cache is warm)."""
    store = Store(url)
    if label.startswith("GET"):
        run = http_read(_app(settings, store, now))
    elif label.endswith("top users"):
        run = top_users_read(Catalogue(store, settings, clock=lambda: now), spec)
    else:
        run = catalogue_read(Catalogue(store, settings, clock=lambda: now), spec)
    start = time.perf_counter()
    run()
    ms = (time.perf_counter() - start) * 1000
    store.close()
    return ms


def scrape_read(app: Any) -> Callable[[], str]:
    """``GET /metrics`` (Prometheus text) through the ASGI stack, in this process."""
    loop = asyncio.new_event_loop()
    key = create_key(app.state.chatwatch.store, "read", "bench")
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://127.0.0.1",
        headers={"Authorization": f"Bearer {key}"},
    )

    def run() -> str:
        response = loop.run_until_complete(client.get("/metrics"))
        response.raise_for_status()
        return response.text

    return run


def bench_size(size: int, folder: Path, args: argparse.Namespace, table: Table) -> None:
    path = folder / f"queries-{size}.db"
    url = f"sqlite:///{path}"
    if not (args.reuse and path.exists()):
        for stale in folder.glob(f"queries-{size}.db*"):
            stale.unlink()
        console.print(f"[bold]filling {path} with {size:,} events over {args.days} days")
        loaded = fill(url, size, days=args.days, seed=0)
        console.print(
            f"  {loaded['events']:,.0f} events in {loaded['seconds']:.0f} s "
            f"({loaded['events_per_s']:,.0f} events/s)"
        )
    settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
    store = Store(url)
    # Every read is made as of the newest event, so the last hour is as busy as in a live
    # server however long ago the store was filled (and reused).
    raw = sqlite3.connect(path)
    now = float(raw.execute("SELECT max(ts) FROM events").fetchone()[0]) + 1.0
    cat = Catalogue(store, settings, clock=lambda: now)
    app = _app(settings, store, now)
    events = raw.execute("SELECT count(*) FROM events").fetchone()[0]
    cases = [
        ("GET /monitoring/metrics (24h)", http_read(app), "24h"),
        ("catalogue, 24 h: every metric", catalogue_read(cat, "24h"), "24h"),
        ("catalogue, 30 d: every metric", catalogue_read(cat, "30d"), "30d"),
        ("catalogue, 30 d: top users", top_users_read(cat, "30d"), "30d"),
    ]
    naive_ms: dict[str, float] = {}
    for spec in ("24h", "30d"):
        window = cat.window(spec)
        # the documented read range: past the minute retention, whole hours
        segments = store.segments(window.start, window.end, now)
        scan = naive_scan(str(path), Window(segments[0][1], window.end, spec), now)
        naive_ms[spec] = _median_ms(scan, args.naive_samples)
        check = _agree(scan(), cat.values(cat.reading(window)))
        console.print(f"  {size:,} events, {spec}: naive scan vs catalogue: {check}")
    for label, run, spec in cases:
        cold = _cold_ms(url, settings, label, spec, now)
        ms = _median_ms(run, args.samples)
        ratio = naive_ms[spec] / ms
        ok = ms < TARGET_MS and ratio >= TARGET_RATIO
        table.add_row(
            f"{events:,}",
            label,
            f"{ms:.1f}",
            f"{cold:.0f}",
            f"{naive_ms[spec]:.0f}",
            f"{ratio:,.0f}x",
            "[green]yes" if ok else "[red]no",
        )
    scrape = scrape_read(app)
    lines = len(scrape().splitlines())
    console.print(
        f"  {events:,} events: GET /metrics (Prometheus, {lines} lines): median "
        f"{_median_ms(scrape, args.samples):.1f} ms"
    )
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--naive-samples", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="keep the stores here")
    parser.add_argument("--reuse", action="store_true", help="reuse stores already filled")
    args = parser.parse_args()
    table = Table(title="Reads at scale on SQLite: median ms (rollups vs naive scan)")
    columns = ("events", "read", "median ms", "first read ms", "naive ms", "ratio", "target met")
    for column in columns:
        table.add_column(column, justify="left" if column == "read" else "right")
    with tempfile.TemporaryDirectory(prefix="chatwatch-bench-") as tmp:
        folder = args.dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for size in (int(s) for s in args.sizes.split(",")):
            bench_size(size, folder, args, table)
    console.print(table)
    console.print(
        f"target: median < {TARGET_MS:.0f} ms at 10 M events and >= {TARGET_RATIO:.0f}x "
        "the naive scan (same machine, same run)"
    )


if __name__ == "__main__":
    main()
