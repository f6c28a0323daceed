"""Ingest throughput: SDK batches over HTTP into SQLite, against raw sqlite3 in the same run.

A ``chatwatch serve`` subprocess on a fresh SQLite file receives the SDK's own batches
(made by ``chatwatch.Client`` record calls of realistic demo traffic, sent gzipped by its
``HTTPTransport``, ``--senders`` at a time like that many app processes: 4 by default, a
small deployment); every batch is acknowledged only after its events are committed. The
server validates batches in its ingest worker process (``CHATWATCH_INGEST_PROCESSES``,
default 1) and the CPU figure counts it. Beside it, in the same run,
``sqlite3.executemany`` writes the same rows (id, ts, type, service, session, JSON) into a
plain table with no index or key, in one transaction with the same pragmas: the physical
limit of this machine. Prints both rates and the ratio.

    .venv/bin/python bench/ingest.py [--events N] [--senders N] [--batch N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from chatwatch.demo.traffic import Traffic
from chatwatch.sdk import CaptureTransport, Client, HTTPTransport
from chatwatch.server.keys import create_key
from chatwatch.store import Store
from live_server import free_port

TARGET_EPS = 40_000
TARGET_SHARE = 0.10
Batch = list[dict[str, Any]]


def sdk_batches(n: int, batch_size: int) -> list[Batch]:
    """About ``n`` events as the SDK records and batches them (demo traffic, time now)."""
    capture = CaptureTransport()
    client = Client(transport=capture, service="bench", batch_size=batch_size, max_queue=n + 1)
    now = time.time()
    traffic = Traffic(random.Random(7), time.time, rate=50.0, start=now - 3600, daily=False)
    made = 0
    for calls in traffic.run(now + 3600, step=30.0):
        for call in calls:
            getattr(client, call.method)(**call.kwargs)
        made += len(calls)
        if made >= n:
            break
    client.close(timeout=60)
    events = capture.events[:n]
    return [events[i : i + batch_size] for i in range(0, len(events), batch_size)]


def start_server(db: Path, port: int) -> subprocess.Popen[bytes]:
    code = "from chatwatch.cli import main; main()"
    args = ["serve", "--port", str(port), "--db", f"sqlite:///{db}", "--log-level", "warning"]
    env = {
        **os.environ,
        "CHATWATCH_ALERTS_ENABLED": "false",
        "CHATWATCH_MAINTENANCE_INTERVAL_S": "0",
    }
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


def send_all(url: str, key: str, batches: list[Batch], senders: int) -> float:
    """Send every batch (each sender its own HTTPTransport); returns the seconds taken."""
    lanes = [batches[i::senders] for i in range(senders)]
    transports = [HTTPTransport(url, key) for _ in lanes]
    for transport in transports:  # connect first: the timing is ingest, not TCP set-up
        transport.send([])
    errors: list[BaseException] = []

    def run(transport: HTTPTransport, lane: list[Batch]) -> None:
        try:
            for batch in lane:
                transport.send(batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=pair) for pair in zip(transports, lanes, strict=True)
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    for transport in transports:
        transport.close()
    if errors:
        raise errors[0]
    return elapsed


def raw_sqlite(path: Path, batches: list[Batch]) -> float:
    """The same rows with plain executemany into an unindexed table: the floor of the cost."""
    rows = [
        (e["id"], e["ts"], e["type"], e["service"], e.get("session_id"), json.dumps(e))
        for batch in batches
        for e in batch
    ]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE raw (id TEXT, ts REAL, type TEXT, service TEXT, sid TEXT, data TEXT)"
    )
    start = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO raw VALUES (?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def cpu_seconds(process: psutil.Process) -> float:
    """User and system CPU of the server and its worker processes."""
    total = 0.0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += sum(proc.cpu_times()[:2])
        except psutil.NoSuchProcess:
            continue
    return total


def stored_events(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument(
        "--senders", type=int, default=4, help="concurrent SDK senders (app processes)"
    )
    parser.add_argument("--batch", type=int, default=500, help="SDK batch size (its default)")
    args = parser.parse_args()

    batches = sdk_batches(args.events, args.batch)
    n = sum(len(b) for b in batches)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "chatwatch.db"
        store = Store(f"sqlite:///{db}")
        key = create_key(store, "ingest", "bench")
        store.close()
        port = free_port()
        server = start_server(db, port)
        process = psutil.Process(server.pid)
        try:
            cpu_before = cpu_seconds(process)
            client_before = sum(psutil.Process().cpu_times()[:2])
            http_s = send_all(f"http://127.0.0.1:{port}", key, batches, args.senders)
            server_cpu = cpu_seconds(process) - cpu_before
            client_cpu = sum(psutil.Process().cpu_times()[:2]) - client_before
        finally:
            server.terminate()
            server.wait(timeout=30)
        stored = stored_events(db)
        raw_s = raw_sqlite(Path(tmp) / "raw.db", batches)

    http_eps, raw_eps = n / http_s, n / raw_s
    share = http_eps / raw_eps
    print(f"events                      {n:>12,}  ({len(batches)} SDK batches of {args.batch})")
    print(
        f"HTTP ingest into SQLite     {http_eps:>12,.0f} events/s  ({http_s:.2f} s, "
        f"{args.senders} senders, rollups included, {stored:,} stored)"
    )
    print(
        f"server CPU per event        {server_cpu / n * 1e6:>12.1f} µs  "
        f"({server_cpu / http_s:.2f} cores busy on average)"
    )
    print(
        f"SDK sender CPU per event    {client_cpu / n * 1e6:>12.1f} µs  "
        f"(this process: {client_cpu / http_s:.2f} cores busy)"
    )
    print(f"raw sqlite3.executemany     {raw_eps:>12,.0f} rows/s    ({raw_s:.2f} s, no index)")
    print(f"ratio                       {share:>12.1%} of raw")
    ok_eps, ok_share = http_eps >= TARGET_EPS, share >= TARGET_SHARE
    print(
        f"target ≥{TARGET_EPS:,} events/s: {'met' if ok_eps else 'NOT met'};"
        f" ≥{TARGET_SHARE:.0%} of raw: {'met' if ok_share else 'NOT met'}"
    )
    if stored != n:
        raise SystemExit(f"stored {stored} events, sent {n}")


if __name__ == "__main__":
    main()
