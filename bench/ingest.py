"""Ingest throughput: SDK batches over HTTP into SQLite, against raw sqlite3 in the same run.

A ``chatwatch serve`` subprocess on a fresh SQLite file receives the SDK's own batches
(made by ``chatwatch.Client`` record calls of realistic demo traffic, sent gzipped by its
``HTTPTransport`` from ``--senders`` processes, like that many app processes: 4 by
default, a small deployment); every batch is acknowledged only after its events are committed. The
server validates batches in its own threads (``--processes N`` sets
``CHATWATCH_INGEST_PROCESSES`` to move that into N worker processes, which the CPU figure
counts too). Beside it, in the same run,
``sqlite3.executemany`` writes the same rows (id, ts, type, service, session, JSON) into a
plain table with no index or key, in one transaction with the same pragmas: the physical
limit of this machine. The rate counts until the events are in the rollups too (the
journal's rest folded by a read after the last batch); the acknowledged rate is printed
beside it. Prints both rates and the ratio, the server's CPU per event against
raw's time per row, the peak resident memory of the server and its workers, and the
budget: CPU per event of each stage of the pipeline, measured alone in one thread
(bench/_stages.py), the rest of the server's CPU printed as "HTTP (the rest)" — and the
server's CPU per event by thread, read from /proc (the group writer, which the server
names, the event loop, and the request threads): the same stages as the server runs them
beside each other, dearer than alone, so the rest is more than HTTP. Several sizes
(``--events 100000,1000000``) also compare the rate at the largest with the smallest (the
cost per event must not grow with the table).
Each size is run again with ``CHATWATCH_SQLITE_SYNCHRONOUS=full`` (an fsync per commit,
durable through a power cut) and its rate printed beside NORMAL's (``--no-full`` skips it).

    .venv/bin/python bench/ingest.py [--events N[,N...]] [--senders N] [--batch N]
                                     [--processes N] [--no-full]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import multiprocessing
import os
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

from _stages import STAGES, bodies_of, budget
from chatwatch.sdk import HTTPTransport
from chatwatch.server.group_commit import WRITER_THREAD
from chatwatch.server.keys import create_key
from chatwatch.store import Store
from live_server import free_port
from traffic import sdk_events

TARGET_EPS = 40_000
TARGET_SHARE = 0.25  # of raw executemany of the same events, same run
TARGET_CPU_RATIO = 3.0  # server CPU per event ≤ 3x raw's time per row
TARGET_GROWTH = 0.15  # the rate at 1 M events within 15 % of the rate at 100 k
THREADS = ("writer", "request threads", "event loop")
Batch = list[dict[str, Any]]


def sdk_batches(n: int, batch_size: int) -> list[Batch]:
    """About ``n`` events as the SDK records and batches them (demo traffic, time now)."""
    events = sdk_events(n, batch_size)
    return [events[i : i + batch_size] for i in range(0, len(events), batch_size)]


def start_server(
    db: Path, port: int, processes: int | None = None, synchronous: str = "normal"
) -> subprocess.Popen[bytes]:
    code = "from chatwatch.cli import main; main()"
    args = ["serve", "--port", str(port), "--db", f"sqlite:///{db}", "--log-level", "warning"]
    env = {
        **os.environ,
        "CHATWATCH_ALERTS_ENABLED": "false",
        "CHATWATCH_MAINTENANCE_INTERVAL_S": "0",
        "CHATWATCH_SQLITE_SYNCHRONOUS": synchronous,
    }
    if processes is not None:
        env["CHATWATCH_INGEST_PROCESSES"] = str(processes)
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


class Senders:
    """``n`` app processes, each sending its share of the batches with its own
    ``HTTPTransport`` (forked before the bench starts any thread; each connects first,
    so the timing is ingest, not TCP set-up). Processes, not threads: in one process the
    senders' encoding shared one interpreter lock, so after every group commit acknowledged
    them together they encoded their next batches one after the other while the server
    waited, which measured the bench's own lock more than the server."""

    def __init__(self, url: str, key: str, batches: list[Batch], n: int) -> None:
        context = multiprocessing.get_context("fork")
        self._ready = context.Barrier(n + 1)
        self._results: Any = context.Queue()
        self._procs = [
            context.Process(target=self._send, args=(url, key, batches[i::n]), daemon=True)
            for i in range(n)
        ]
        for proc in self._procs:
            proc.start()

    def _send(self, url: str, key: str, lane: list[Batch]) -> None:
        transport = HTTPTransport(url, key)
        try:
            transport.send([])
            self._ready.wait()
            cpu = time.process_time()
            for batch in lane:
                transport.send(batch)
            self._results.put((time.perf_counter(), time.process_time() - cpu, None))
        except BaseException as exc:  # the parent raises it
            self._ready.abort()  # a sender that cannot connect: nobody waits 60 s for it
            self._results.put((time.perf_counter(), 0.0, repr(exc)))
        finally:
            transport.close()

    def run(self) -> tuple[float, float]:
        """Start them all at once; returns the seconds until the last one was done and
        the senders' CPU seconds."""
        with contextlib.suppress(threading.BrokenBarrierError):  # a sender failed: below
            self._ready.wait(timeout=60)
        start = time.perf_counter()
        results = [self._results.get(timeout=3600) for _ in self._procs]
        for proc in self._procs:
            proc.join(30)
        errors = [error for _, _, error in results if error]
        if errors:
            raise SystemExit(f"a sender failed: {errors[0]}")
        return max(end for end, _, _ in results) - start, sum(cpu for _, cpu, _ in results)


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


def fold_now(url: str, key: str) -> float:
    """A small read (one session), which first folds what the journal still holds: the
    server's CPU and memory figures then count the deferred rollup and session-index work
    of every event too. Returns the seconds it took."""
    start = time.perf_counter()
    answer = httpx.get(
        f"{url}/api/v1/sessions",
        params={"limit": 1},
        headers={"Authorization": f"Bearer {key}"},
        timeout=120,
    )
    answer.raise_for_status()
    return time.perf_counter() - start


def cpu_seconds(process: psutil.Process) -> float:
    """User and system CPU of the server and its worker processes."""
    total = 0.0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += sum(proc.cpu_times()[:2])
        except psutil.NoSuchProcess:
            continue
    return total


def thread_cpu(process: psutil.Process) -> dict[str, float]:
    """The server process's CPU seconds by thread: the group writer (named by the
    server), the event loop (the main thread) and the rest (the request threads that
    decode and prepare batches, and any other)."""
    totals = dict.fromkeys(THREADS, 0.0)
    for thread in process.threads():
        try:
            name = Path(f"/proc/{process.pid}/task/{thread.id}/comm").read_text().strip()
        except OSError:
            name = ""
        if name == WRITER_THREAD:
            kind = "writer"
        elif thread.id == process.pid:
            kind = "event loop"
        else:
            kind = "request threads"
        totals[kind] += thread.user_time + thread.system_time
    return totals


def stored_events(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        conn.close()


class PeakRSS:
    """The largest resident memory of the server and its workers, sampled every 0.2 s."""

    def __init__(self, process: psutil.Process) -> None:
        self.process = process
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            total = 0
            for proc in [self.process, *self.process.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
            self.peak = max(self.peak, total)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(
    n_events: int,
    senders: int,
    batch: int,
    processes: int | None,
    synchronous: str = "normal",
    stages_too: bool = True,
) -> dict[str, float]:
    """One measured run: HTTP ingest, the stage budget and raw executemany of the same."""
    batches = sdk_batches(n_events, batch)
    n = sum(len(b) for b in batches)
    # the ready-made traffic is kept out of this process's collections: an app process
    # never holds a million events, and scanning them stalled the senders at 1 M
    gc.freeze()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "chatwatch.db"
        store = Store(f"sqlite:///{db}")
        key = create_key(store, "ingest", "bench")
        read_key = create_key(store, "read", "bench")
        store.close()
        port = free_port()
        server = start_server(db, port, processes, synchronous)
        process = psutil.Process(server.pid)
        try:
            apps = Senders(f"http://127.0.0.1:{port}", key, batches, senders)
            cpu_before = cpu_seconds(process)
            threads_before = thread_cpu(process)
            with PeakRSS(process) as rss:
                http_s, client_cpu = apps.run()
                fold_s = fold_now(f"http://127.0.0.1:{port}", read_key)
            server_cpu = cpu_seconds(process) - cpu_before
            threads_after = thread_cpu(process)
        finally:
            server.terminate()
            server.wait(timeout=30)
        stored = stored_events(db)
        if stored != n:
            raise SystemExit(f"stored {stored} events, sent {n}")
        raw_s = raw_sqlite(Path(tmp) / "raw.db", batches)
        stages = budget(bodies_of(batches), Path(tmp) / "stages.db", n) if stages_too else {}
    gc.unfreeze()
    return {
        "events": n,
        "batches": len(batches),
        "http_s": http_s,
        # until every event is in the rollups too: the fold left at the end is work a
        # steady stream pays as it goes, and leaving it out favoured the small runs
        "eps": n / (http_s + fold_s),
        "acked_eps": n / http_s,
        "fold_s": fold_s,
        "server_us": server_cpu / n * 1e6,
        "cores": server_cpu / (http_s + fold_s),
        "client_us": client_cpu / n * 1e6,
        "raw_s": raw_s,
        "raw_eps": n / raw_s,
        "raw_us": raw_s / n * 1e6,
        "rss_mb": rss.peak / 2**20,
        **{f"stage:{k}": v for k, v in stages.items()},
        **{f"thread:{k}": (threads_after[k] - threads_before[k]) / n * 1e6 for k in THREADS},
    }


def report(r: dict[str, float], senders: int, batch: int, processes: int | None) -> None:
    n = int(r["events"])
    if "stage:" + STAGES[0] not in r:  # a durability run: the rate and CPU only
        print(
            f"  synchronous=FULL          {r['eps']:>12,.0f} events/s  "
            f"({r['http_s'] + r['fold_s']:.2f} s, "
            f"{r['server_us']:.1f} µs server CPU per event)"
        )
        return
    workers = "0 (default)" if processes is None else str(processes)
    print(f"events                      {n:>12,}  ({int(r['batches'])} SDK batches of {batch})")
    print(
        f"HTTP ingest into SQLite     {r['eps']:>12,.0f} events/s  "
        f"({r['http_s'] + r['fold_s']:.2f} s, {senders} senders, ingest processes {workers}, "
        "rollups included)"
    )
    print(
        f"  acknowledged              {r['acked_eps']:>12,.0f} events/s  ({r['http_s']:.2f} s, "
        f"then {r['fold_s']:.2f} s folding the journal's rest into the rollups)"
    )
    print(
        f"server CPU per event        {r['server_us']:>12.1f} µs  "
        f"({r['cores']:.2f} cores busy on average)"
    )
    staged = 0.0
    for stage in STAGES:
        us = r[f"stage:{stage}"]
        if stage == "hand-off" and not processes:  # None: the default, 0
            print(f"  {stage:<25} {'-':>12}     (no worker process; it would cost {us:.1f} µs)")
            continue
        staged += us
        print(f"  {stage:<25} {us:>12.1f} µs")
    print(f"  {'HTTP (the rest)':<25} {r['server_us'] - staged:>12.1f} µs")
    # the same CPU by thread, read from /proc: what the stages cost in the server, where
    # they run beside each other (the stages above are measured alone, in one thread)
    print("server CPU per event, by thread (the server process)")
    for kind in THREADS:
        print(f"  {kind:<25} {r['thread:' + kind]:>12.1f} µs")
    print(f"server RSS under load       {r['rss_mb']:>12.0f} MB  (peak, all processes)")
    print(
        f"SDK sender CPU per event    {r['client_us']:>12.1f} µs  ({senders} sender "
        "processes: encoding, gzip, HTTP)"
    )
    print(
        f"raw sqlite3.executemany     {r['raw_eps']:>12,.0f} rows/s    ({r['raw_us']:.2f} µs "
        "per row, no index)"
    )
    share, cpu_ratio = r["eps"] / r["raw_eps"], r["server_us"] / r["raw_us"]
    print(f"ratio                       {share:>12.1%} of raw (goal ≥ {TARGET_SHARE:.0%})")
    print(f"server CPU / raw row time   {cpu_ratio:>12.1f}x    (goal ≤ {TARGET_CPU_RATIO:.0f}x)")
    ok = r["eps"] >= TARGET_EPS
    print(f"target ≥{TARGET_EPS:,} events/s: {'met' if ok else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", default="100000", help="events per run; several (100000,1000000) compare"
    )
    parser.add_argument(
        "--senders", type=int, default=4, help="concurrent SDK senders (app processes)"
    )
    parser.add_argument("--batch", type=int, default=2000, help="SDK batch size (its default)")
    parser.add_argument(
        "--processes", type=int, default=None, help="CHATWATCH_INGEST_PROCESSES for the server"
    )
    parser.add_argument(
        "--no-full",
        dest="full",
        action="store_false",
        help="skip the run with CHATWATCH_SQLITE_SYNCHRONOUS=full beside the default NORMAL",
    )
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = []
    for size in [int(x) for x in args.events.split(",")]:
        result = run(size, args.senders, args.batch, args.processes)
        report(result, args.senders, args.batch, args.processes)
        results.append(result)
        if args.full:  # the same load with CHATWATCH_SQLITE_SYNCHRONOUS=full, beside it
            full = run(size, args.senders, args.batch, args.processes, "full", stages_too=False)
            report(full, args.senders, args.batch, args.processes)
            print(
                f"  full vs normal            {full['eps'] / result['eps'] - 1:>+12.1%} rate, "
                f"{full['server_us'] / result['server_us'] - 1:+.1%} server CPU per event"
            )
    if len(results) > 1:
        first, last = results[0], results[-1]
        change = last["eps"] / first["eps"] - 1
        print(
            f"rate at {int(last['events']):,} vs {int(first['events']):,}: {change:+.1%} "
            f"(goal within ±{TARGET_GROWTH:.0%})"
        )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
