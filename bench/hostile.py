"""What hostile input costs the server, each figure beside a baseline of the same run.

1. Ingest bodies: a ``chatwatch serve`` subprocess (ingest worker included, SQLite)
   receives each of issue 11's amplification bodies (tests/hostile_inputs.py) and a valid
   batch of the same size as sent (gzipped when the hostile one is). For each: the
   answer's status, its size and time, the server's CPU seconds (all its processes, from
   psutil) and its peak resident memory above the baseline before the request (sampled
   every 10 ms); the median of ``--repeat`` requests.
2. Durability: the same sequential ingest (``--sync-batches`` batches of 100 events, one
   commit each) into a server with ``CHATWATCH_SQLITE_SYNCHRONOUS=normal`` and one with
   ``full``, twice each, alternating; events/s, batch latency and server CPU per batch.
3. Long reads: a store of ``--history-events`` events over a year; the dashboard's data
   for ``window=all`` and for a year-1-to-9999 range beside its 1 h and 24 h windows
   (wall time on loopback, the median of ``--repeat``).
4. OTLP stream: ``/healthz`` probed every 10 ms while a stream of large, malformed,
   oversized and compressed-bomb trace exports is sent, beside the same probes idle; the
   server's CPU seconds and peak memory per export of each kind.

    .venv/bin/python bench/hostile.py [--repeat N] [--sync-batches N] [--history-events N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "dashboard"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integrations" / "otlp"))

from _workload import login
from otlp_build import export, span

from _bulk import fill
from chatwatch.dashboard.users import create_user
from chatwatch.server.keys import create_key
from chatwatch.store import Store
from hostile_inputs import hostile_bodies, message, normal_body
from server_process import ServerProcess

PASSWORD = "bench-password-1"
LLM = {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 300}


class Peak:
    """The server's peak resident memory (MB) while the block runs."""

    def __init__(self, server: ServerProcess) -> None:
        self.server, self.mb = server, server.rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.mb = max(self.mb, self.server.rss_mb())

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def measure(
    server: ServerProcess, http: httpx.Client, body: bytes, headers: dict[str, str]
) -> dict[str, float]:
    time.sleep(0.3)  # let the previous request's memory settle
    baseline, cpu = server.rss_mb(), server.cpu_seconds()
    with Peak(server) as peak:
        start = time.monotonic()
        response = http.post("/api/v1/events", content=body, headers=headers)
        took = time.monotonic() - start
    return {
        "status": response.status_code,
        "answer_kb": len(response.content) / 1024,
        "seconds": took,
        "cpu_s": server.cpu_seconds() - cpu,
        "peak_mb": peak.mb - baseline,
    }


def median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def row(name: str, r: dict[str, float]) -> str:
    return (
        f"{name:<46} {int(r['status']):>4} {r['answer_kb']:>9.1f} {r['seconds']:>8.2f} "
        f"{r['cpu_s']:>8.3f} {r['peak_mb']:>9.1f}"
    )


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"median {statistics.median(ordered) * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  "
        f"max {ordered[-1] * 1000:7.1f} ms  ({len(ordered)} probes)"
    )


def sync_ingest(mode: str, batches: int) -> dict[str, float]:
    """Sequential batches of 100 events into a fresh server run with ``mode``."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'chatwatch.db'}"
        store = Store(url)
        key = create_key(store, "ingest", "bench")
        store.close()
        server = ServerProcess(url, CHATWATCH_SQLITE_SYNCHRONOUS=mode).start()
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        bodies = [
            json.dumps([message(b * 100 + i, text="hello " * 8) for i in range(100)]).encode()
            for b in range(batches)
        ]
        try:
            with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
                http.post("/api/v1/events", content=normal_body(1000, False))  # warm up
                cpu = server.cpu_seconds()
                took: list[float] = []
                for body in bodies:
                    start = time.perf_counter()
                    assert http.post("/api/v1/events", content=body).status_code == 202
                    took.append(time.perf_counter() - start)
                cpu = server.cpu_seconds() - cpu
        finally:
            server.stop()
    return {
        "eps": batches * 100 / sum(took),
        "batch_ms": statistics.median(took) * 1000,
        "cpu_ms": cpu / batches * 1000,
    }


def durability(batches: int) -> None:
    print(f"\n2. ingest, {batches} sequential batches of 100 events (a commit each), SQLite")
    runs: dict[str, list[dict[str, float]]] = {"normal": [], "full": []}
    for _ in range(2):
        for mode in runs:
            runs[mode].append(sync_ingest(mode, batches))
    for mode, results in runs.items():
        r = median(results)
        print(
            f"  synchronous={mode:<7} {r['eps']:>8,.0f} events/s  batch {r['batch_ms']:6.1f} ms"
            f"  server CPU {r['cpu_ms']:6.2f} ms/batch  (median of {len(results)} runs)"
        )
    normal, full = median(runs["normal"]), median(runs["full"])
    print(f"  full against normal: {(full['eps'] / normal['eps'] - 1) * 100:+.0f} % events/s")


def timed(call: Callable[[], httpx.Response], n: int) -> tuple[list[float], int]:
    took, status = [], 0
    for _ in range(n):
        start = time.perf_counter()
        status = call().status_code
        took.append(time.perf_counter() - start)
    return took, status


def long_reads(server: ServerProcess, repeat: int, events: int) -> None:
    print(f"\n3. dashboard data (/analytics/api/data), {events:,} events over 365 days")
    with httpx.Client(base_url=server.url, timeout=300) as http:
        login(http, "bench", PASSWORD)
        cases: list[tuple[str, dict[str, str]]] = [
            ("window=1h (baseline)", {"window": "1h"}),
            ("window=24h (baseline)", {"window": "24h"}),
            ("window=all", {"window": "all"}),
            ("year 1 to 9999", {"start": "0001-01-01T00:00:00Z", "end": "9999-12-31T00:00:00Z"}),
        ]
        for name, params in cases:
            http.get("/analytics/api/data", params=params)  # warm
            took, status = timed(partial(http.get, "/analytics/api/data", params=params), repeat)
            print(
                f"  {name:<24} {status}  median {statistics.median(took) * 1000:8.1f} ms  "
                f"max {max(took) * 1000:8.1f} ms"
            )


def _exports(max_spans: int) -> dict[str, tuple[bytes, dict[str, str]]]:
    proto = {"Content-Type": "application/x-protobuf"}
    valid = export([span(1000 + i, 1, attrs=LLM) for i in range(max_spans)], "heavy")
    over = export([span(9, i + 1) for i in range(max_spans * 2)], "over")
    zeros = gzip.compress(b"\0" * 200_000_000, 9)
    return {
        f"valid, {max_spans:,} spans": (valid.SerializeToString(), proto),
        "malformed, 4 MB": (b"\x0a\xff" * 2_000_000, proto),
        f"oversized, {max_spans * 2:,} spans": (over.SerializeToString(), proto),
        f"gzip bomb, {len(zeros) // 1024} KB -> 200 MB": (
            zeros,
            {**proto, "Content-Encoding": "gzip"},
        ),
        "malformed JSON, 4 MB": (
            b'{"resourceSpans": [' * 200_000,
            {"Content-Type": "application/json"},
        ),
    }


def otlp_stream(server: ServerProcess, key: str, rounds: int, max_spans: int) -> None:
    print(f"\n4. /healthz during a stream of OTLP exports ({rounds} rounds of each kind)")
    exports = _exports(max_spans)
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=server.url, timeout=30) as probe:
        idle: list[float] = []
        for _ in range(100):
            start = time.perf_counter()
            probe.get("/healthz")
            idle.append(time.perf_counter() - start)
            time.sleep(0.01)
        print(f"  /healthz idle (baseline)        {_ms(idle)}")
        costs: dict[str, list[dict[str, float]]] = {name: [] for name in exports}
        probes: dict[str, list[float]] = {name: [] for name in exports}  # by export in flight
        sending = [next(iter(exports))]
        done = threading.Event()

        def send() -> None:
            with httpx.Client(base_url=server.url, headers=auth, timeout=120) as http:
                for _ in range(rounds):
                    for name, (body, headers) in exports.items():
                        sending[0] = name
                        cpu = server.cpu_seconds()
                        with Peak(server) as peak:
                            base = peak.mb
                            start = time.perf_counter()
                            status = http.post("/v1/traces", content=body, headers=headers)
                            took = time.perf_counter() - start
                        costs[name].append(
                            {
                                "status": status.status_code,
                                "answer_kb": len(status.content) / 1024,
                                "seconds": took,
                                "cpu_s": server.cpu_seconds() - cpu,
                                "peak_mb": peak.mb - base,
                            }
                        )
            done.set()

        sender = threading.Thread(target=send)
        sender.start()
        busy: list[float] = []
        while not done.is_set():
            during = sending[0]
            start = time.perf_counter()
            assert probe.get("/healthz").status_code == 200
            busy.append(time.perf_counter() - start)
            probes[during].append(busy[-1])
            time.sleep(0.01)
        sender.join()
        print(f"  /healthz during the exports     {_ms(busy)}")
        for name, samples in probes.items():
            if samples:
                print(f"    while {name:<33} {_ms(samples)}")
    print(f"  {'export (median)':<46} {'code':>4} {'answer KB':>9} {'time s':>8} ", end="")
    print(f"{'CPU s':>8} {'peak MB':>9}")
    for name, runs in costs.items():
        print("  " + row(f"{name} ({len(exports[name][0]) / 1024:,.0f} KB)", median(runs)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="requests of each kind")
    parser.add_argument("--sync-batches", type=int, default=150, help="batches per durability run")
    parser.add_argument("--history-events", type=int, default=300_000, help="events over a year")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("\n1. ingest bodies, hostile beside a valid batch of the same size (SQLite)")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'chatwatch.db'}"
        store = Store(url)
        key = create_key(store, "ingest", "bench")
        store.close()
        server = ServerProcess(url).start()
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        try:
            with httpx.Client(base_url=server.url, headers=auth, timeout=120) as http:
                http.post("/api/v1/events", content=normal_body(1000, False))  # warm up
                print(f"server RSS at start: {server.rss_mb():.0f} MB (server and worker)")
                print(
                    f"{'request':<46} {'code':>4} {'answer KB':>9} {'time s':>8} "
                    f"{'CPU s':>8} {'peak MB':>9}"
                )
                for name, (body, headers) in hostile_bodies().items():
                    gz = bool(headers)
                    normal = normal_body(len(body), gz)
                    hostile = median(
                        [measure(server, http, body, headers) for _ in range(args.repeat)]
                    )
                    fair = median(
                        [measure(server, http, normal, headers) for _ in range(args.repeat)]
                    )
                    size = f"{len(body) / 1024:,.0f} KB{' gzip' if gz else ''}"
                    print(row(f"{name} ({size})", hostile))
                    print(row(f"  normal batch, {len(normal) / 1024:,.0f} KB", fair))
                print(f"server RSS at end: {server.rss_mb():.0f} MB")
        finally:
            server.stop()
    durability(args.sync_batches)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'chatwatch.db'}"
        fill(url, args.history_events, days=365, seed=0, progress=False)
        store = Store(url)
        create_user(store, "bench", PASSWORD)
        key = create_key(store, "ingest", "bench")
        store.close()
        max_spans = 10_000
        server = ServerProcess(url, CHATWATCH_MAX_BATCH_EVENTS=str(max_spans)).start()
        try:
            long_reads(server, args.repeat, args.history_events)
            otlp_stream(server, key, args.repeat, max_spans)
        finally:
            server.stop()
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
