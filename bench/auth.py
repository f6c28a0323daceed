"""What auth costs ingest. Two parts (``--part keys|flood|all``, all by default).

keys: the per-process check cache (``KEY_CACHE_S``, 1 s) against a database read on every
request, in the same run.

Prints the time of one cached check and one database check (SQLite), then ingest over
the whole ASGI stack in this process (httpx's ASGITransport, ``--batches`` batches of
``--batch`` turns, one at a time) with the cache and with a database read per request,
and the ratio. With the cache a key costs a dictionary lookup on most requests; the
revocation delay it buys is at most ``KEY_CACHE_S`` on other replicas.

flood: ``chatwatch serve`` as a real process (SQLite, trusting 127.0.0.1 as its proxy so
that each login comes from another client address, for another name: the attempt
counters do not stop them, only the hash pool's bound does). First a baseline: the same
200-turn ingest batch sent ``--rounds`` times with no flood; then ``--rounds`` times
during a flood of ``--flood`` (100) concurrent anonymous logins sent by another process.
Prints each batch's latency, the median of each, the logins' answers (401: hashed, 429:
refused), and the peak resident memory of the server (sampled every 10 ms) in each phase.
The issue's bounds: the batch under 1 s, the server under 500 MB.

    .venv/bin/python bench/auth.py [--part keys|flood|all] [--batches N] [--batch N]
                                   [--flood N] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

os.environ.setdefault("CHATWATCH_INGEST_PROCESSES", "0")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from chatwatch.config import Settings
from chatwatch.dashboard.users import create_user
from chatwatch.server import create_app
from chatwatch.server.keys import KeyChecker, create_key
from chatwatch.store import Store
from login_flood import FLOOD_SCRIPT, PeakRss
from server_process import ServerProcess


def _per_call_us(fn: object, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()  # type: ignore[operator]
    return (time.perf_counter() - start) / n * 1e6


def _batch(n: int) -> list[dict[str, object]]:
    now = time.time()
    return [
        {"type": "turn", "id": uuid.uuid4().hex, "ts": now, "service": "bench",
         "session_id": f"s{i % 50}", "response_time_ms": 100 + i % 900}
        for i in range(n)
    ]  # fmt: skip


def _ingest_rate(db: Path, ttl_s: float, batches: int, size: int) -> float:
    url = f"sqlite:///{db}"
    settings = Settings(
        database_url=url, alerts_enabled=False, maintenance_interval_s=0, _env_file=None
    )  # type: ignore[call-arg]
    store = Store(url)
    app = create_app(settings, store)
    st = app.state.chatwatch
    st.extras["key_checker"] = KeyChecker(store, ttl_s=ttl_s)
    key = create_key(store, "ingest", "bench")
    bodies = [_batch(size) for _ in range(batches)]

    async def run() -> float:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            warm = await http.post("/api/v1/events", json=_batch(10), headers=headers)
            assert warm.status_code == 202, warm.text
            start = time.perf_counter()
            for body in bodies:
                answer = await http.post("/api/v1/events", json=body, headers=headers)
                assert answer.status_code == 202
            return batches * size / (time.perf_counter() - start)

    rate = asyncio.run(run())
    writer = st.extras.get("group_writer")
    if writer is not None:
        writer.close()
    store.close()
    return rate


def _ingest_s(http: httpx.Client, key: str) -> float:
    body = _batch(200)
    start = time.perf_counter()
    answer = http.post("/api/v1/events", json=body, headers={"Authorization": f"Bearer {key}"})
    took = time.perf_counter() - start
    assert answer.status_code == 202 and answer.json()["accepted"] == 200, answer.text
    return took


def _flooded_ingest_s(
    http: httpx.Client, key: str, url: str, n: int, round_: int
) -> tuple[float, list[int]]:
    """One batch sent while another process posts ``n`` logins at once."""
    flood = subprocess.Popen(
        [sys.executable, "-c", FLOOD_SCRIPT, url, str(n), str(round_)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert flood.stdout is not None
        assert flood.stdout.readline().strip() == "flooding"
        took = _ingest_s(http, key)
        out, _ = flood.communicate(timeout=180)
    finally:
        if flood.poll() is None:
            flood.kill()
            flood.wait()
    return took, [int(s) for s in out.split()]


def flood_bench(tmp: Path, n: int, rounds: int) -> None:
    url = f"sqlite:///{tmp / 'flood.db'}"
    store = Store(url)
    create_user(store, "ana", "correct horse battery")
    key = create_key(store, "ingest", "bench flood")
    store.close()
    server = ServerProcess(
        url, CHATWATCH_TRUSTED_PROXIES="127.0.0.1", CHATWATCH_INGEST_PROCESSES="0"
    ).start()
    assert server.proc is not None
    try:
        with httpx.Client(base_url=server.url, timeout=120) as http:
            _ingest_s(http, key)  # a warm server for both phases
            with PeakRss(server.proc.pid) as quiet:
                baseline = [_ingest_s(http, key) for _ in range(rounds)]
            with PeakRss(server.proc.pid) as loud:
                runs = [_flooded_ingest_s(http, key, server.url, n, r) for r in range(rounds)]
    finally:
        server.stop()
    flooded = [took for took, _ in runs]
    statuses = [s for _, answers in runs for s in answers]

    def ms(values: list[float]) -> str:
        return " ".join(f"{v * 1000:.0f}" for v in values) + " ms"

    quiet_ms, loud_ms = statistics.median(baseline) * 1000, statistics.median(flooded) * 1000
    print(f"200-turn ingest batch, no flood:        median {quiet_ms:6.0f} ms  ({ms(baseline)})")
    print(f"200-turn ingest batch, {n}-login flood: median {loud_ms:6.0f} ms  ({ms(flooded)})")
    print(
        f"logins answered: {statuses.count(401)} hashed (401), {statuses.count(429)} refused (429),"
        f" {len(statuses) - statuses.count(401) - statuses.count(429)} other"
    )
    print(f"server peak RSS, no flood:    {quiet.peak / 2**20:6.0f} MB")
    print(f"server peak RSS, flood:       {loud.peak / 2**20:6.0f} MB (bound 500 MB)")


def keys_bench(tmp: str, batches: int, size: int) -> None:
    store = Store(f"sqlite:///{Path(tmp) / 'keys.db'}")
    key = create_key(store, "ingest", "bench")
    checker = KeyChecker(store)
    checker.check(key)
    cached = _per_call_us(lambda: checker.cached(key), 20_000)
    reader = KeyChecker(store, ttl_s=0.0)
    reader.check(key)  # records the use once; later checks only read
    database = _per_call_us(lambda: reader.check(key), 2000)
    store.close()
    print(f"key check, cached:          {cached:8.1f} us")
    print(f"key check, database read:   {database:8.1f} us ({database / cached:.0f}x)")
    with_cache = _ingest_rate(Path(tmp) / "a.db", 1.0, batches, size)
    every_time = _ingest_rate(Path(tmp) / "b.db", 0.0, batches, size)
    print(f"ingest, {size}-event batches, cached keys:       {with_cache:9,.0f} events/s")
    print(f"ingest, {size}-event batches, database per call: {every_time:9,.0f} events/s")
    print(f"ratio cached / database: {with_cache / every_time:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["keys", "flood", "all"], default="all")
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--flood", type=int, default=100, help="concurrent logins")
    parser.add_argument("--rounds", type=int, default=3, help="batches timed per phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("keys", "all"):
            keys_bench(tmp, args.batches, args.batch)
        if args.part in ("flood", "all"):
            flood_bench(Path(tmp), args.flood, args.rounds)


if __name__ == "__main__":
    main()
