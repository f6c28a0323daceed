"""What a hostile ingest request costs the server, beside a normal batch of the same size.

A ``chatwatch serve`` subprocess (ingest worker included, SQLite) receives each of issue
11's amplification bodies (tests/hostile_inputs.py) and, in the same run, a valid batch of the
same size as sent (gzipped when the hostile one is). For each: the answer's status, its
size and time, the server's CPU seconds (all its processes, from psutil) and its peak
resident memory above the baseline before the request (sampled every 10 ms). Each
request is sent ``--repeat`` times and the median is printed.

    .venv/bin/python bench/hostile.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from chatwatch.server.keys import create_key
from chatwatch.store import Store
from hostile_inputs import hostile_bodies, normal_body
from server_process import ServerProcess


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="requests of each kind")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
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
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
