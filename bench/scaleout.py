"""Scale-out: SDK batches over HTTP into 1, 2 and 3 ``chatwatch serve`` replicas on one
PostgreSQL database.

For each replica count, a fresh database and that many ``chatwatch serve`` subprocesses
(default settings: each with its ingest worker process); ``--senders`` SDK senders (6 by
default, so each count divides them evenly) send the same batches as bench/ingest.py,
sender ``i`` to replica ``i % n``, each batch acknowledged after its commit. Prints events
per second, the CPU of the replicas and of the PostgreSQL backends serving the database,
and checks every event was stored once.

PostgreSQL runs on the same machine as the replicas and the senders: on a 2-core machine
the replicas, their workers, the database and the senders share two cores, so more
replicas add processes, not CPU; the figures show what a replica costs and whether the
database or the replicas limit the rate, not the speed-up of replicas on machines of
their own (there each replica brings its cores, and PostgreSQL's CPU and WAL set the cap).

    .venv/bin/python bench/scaleout.py [--events N] [--senders N] [--replicas 1,2,3]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from chatwatch.sdk import HTTPTransport
from chatwatch.server.keys import create_key
from chatwatch.store import Store
from ingest import Batch, sdk_batches
from replicas import Replica, start_replicas

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def send_spread(replicas: list[Replica], key: str, batches: list[Batch], senders: int) -> float:
    """Sender ``i`` sends every ``senders``-th batch to replica ``i % n``; seconds taken."""
    lanes = [batches[i::senders] for i in range(senders)]
    transports = [HTTPTransport(replicas[i % len(replicas)].url, key) for i in range(senders)]
    for transport in transports:
        transport.send([])
    errors: list[BaseException] = []

    def run(transport: HTTPTransport, lane: list[Batch]) -> None:
        try:
            for batch in lane:
                transport.send(batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=p) for p in zip(transports, lanes, strict=True)]
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


def cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                total += sum(p.cpu_times()[:2])
        except psutil.Error:
            continue
    return total


def backends(db: str) -> list[int]:
    with psycopg.connect(PG_ADMIN) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (db,))
        return [int(row[0]) for row in rows]


def run(n: int, batches: list[Batch], senders: int) -> tuple[float, float, float, int]:
    """(seconds, replica CPU s, PostgreSQL backend CPU s, events stored) for ``n`` replicas."""
    db = f"cw_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"
    try:
        store = Store(url)
        key = create_key(store, "ingest", "bench")
        store.close()
        env = {"CHATWATCH_ALERTS_ENABLED": "false"}
        replicas = start_replicas(url, n, env)
        try:
            pids = [r.pid for r in replicas]
            # the pools connect on the first batches: warm them so their backends are counted
            send_spread(replicas, key, batches[: senders * 2], senders)
            pg = backends(db)
            before, pg_before = cpu(pids), cpu(pg)
            seconds = send_spread(replicas, key, batches[senders * 2 :], senders)
            used, pg_used = cpu(pids) - before, cpu(pg) - pg_before
        finally:
            for replica in replicas:
                replica.stop()
        with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={db}") as conn:
            row = conn.execute("SELECT count(*) FROM events").fetchone()
            stored = int(row[0]) if row else 0
        return seconds, used, pg_used, stored
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--senders", type=int, default=6)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--replicas", default="1,2,3")
    args = parser.parse_args()

    batches = sdk_batches(args.events, args.batch)
    n = sum(len(b) for b in batches)
    timed = n - sum(len(b) for b in batches[: args.senders * 2])
    print(f"events {n:,} in batches of {args.batch}, {args.senders} senders")
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; PostgreSQL local")
    print(f"{'replicas':>8} {'events/s':>10} {'replica CPU/event':>18} {'PG CPU/event':>13}")
    base = None
    for count in [int(c) for c in args.replicas.split(",")]:
        seconds, used, pg_used, stored = run(count, batches, args.senders)
        eps = timed / seconds
        base = base or eps
        per, pg_per = used / timed * 1e6, pg_used / timed * 1e6
        print(
            f"{count:>8} {eps:>10,.0f} {per:>15.1f} µs {pg_per:>10.1f} µs"
            f"   ({eps / base:.2f} x one replica)"
        )
        if stored != n:
            raise SystemExit(f"{count} replicas: stored {stored} events, sent {n}")
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
