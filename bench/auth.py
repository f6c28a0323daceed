"""What key checks cost ingest: the per-process check cache (``KEY_CACHE_S``, 1 s) against a
database read on every request, in the same run.

Prints the time of one cached check and one database check (SQLite), then ingest over
the whole ASGI stack in this process (httpx's ASGITransport, ``--batches`` batches of
``--batch`` turns, one at a time) with the cache and with a database read per request,
and the ratio. With the cache a key costs a dictionary lookup on most requests; the
revocation delay it buys is at most ``KEY_CACHE_S`` on other replicas.

    .venv/bin/python bench/auth.py [--batches N] [--batch N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

import httpx

os.environ.setdefault("CHATWATCH_INGEST_PROCESSES", "0")

from chatwatch.config import Settings
from chatwatch.server import create_app
from chatwatch.server.keys import KeyChecker, create_key
from chatwatch.store import Store


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
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
        with_cache = _ingest_rate(Path(tmp) / "a.db", 1.0, args.batches, args.batch)
        every_time = _ingest_rate(Path(tmp) / "b.db", 0.0, args.batches, args.batch)
    print(f"ingest, {args.batch}-event batches, cached keys:       {with_cache:9,.0f} events/s")
    print(f"ingest, {args.batch}-event batches, database per call: {every_time:9,.0f} events/s")
    print(f"ratio cached / database: {with_cache / every_time:.2f}")


if __name__ == "__main__":
    main()
