"""Raw export speed and memory: ``chatwatch export --type turns`` of 1 M turn rows, rows/s
and peak RSS, beside the ``sqlite3`` command-line tool writing the same rows to CSV in the
same run (the floor: C, no JSON decoding in Python).

The store holds ``--turns`` turns and as many LLM calls (so the export skips rows of the
wrong type, as it does in a real store), over 7 days; it is built once and kept. Each
export runs in its own process and its peak RSS is read from ``wait4``; exporting a
tenth of the rows and all of them shows whether memory stays flat. Rows/s counts the
whole process, start-up included; the marginal rate (the extra rows over the extra
seconds from a tenth to all) leaves the start-up out.

    .venv/bin/python bench/export.py [--turns N] [--db PATH] [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chatwatch.store import Store

DAYS = 7
SQL = """SELECT datetime(ts, 'unixepoch'), id, service, session_id, user_id,
 json_extract(data, '$.user_type'), run_id, json_extract(data, '$.sender_type'),
 json_extract(data, '$.response_time_ms'), json_extract(data, '$.success'),
 json_extract(data, '$.error_type'), json_extract(data, '$.cached'),
 json_extract(data, '$.topic'), json_extract(data, '$.model'), json_extract(data, '$.tokens'),
 json_extract(data, '$.rag_used'), json_extract(data, '$.rag_found'), NULL, NULL
FROM events WHERE type = 'turn' AND ts >= {start} AND ts < {end} ORDER BY ts, id"""


def build(path: Path, turns: int, end: float) -> None:
    """``turns`` turn rows and as many LLM-call rows, over the ``DAYS`` days before ``end``."""
    store = Store(f"sqlite:///{path}")
    store.close()
    import sqlite3

    conn = sqlite3.connect(path)
    start = end - DAYS * 86400
    step = (end - start) / turns
    models = ("llama-3.1-8b-instant", "llama-3.3-70b-versatile", "glm-4")
    topics = ("billing", "shipping", "returns", "account")
    batch: list[tuple[object, ...]] = []
    started = time.perf_counter()
    for i in range(turns):
        ts = start + (i + 0.5) * step
        sid, run = f"s{i // 4:08d}", f"r{i:09d}"
        model = models[i % 3]
        turn = {
            "user_type": "free" if i % 3 else "premium",
            "run_id": run,
            "sender_type": "user",
            "response_time_ms": 400.0 + (i * 37) % 3000,
            "success": i % 19 != 0,
            "cached": i % 7 == 0,
            "topic": topics[i % 4],
            "model": model,
            "tokens": 100 + i % 900,
            "rag_used": i % 2 == 0,
            "rag_found": i % 4 == 0,
        }
        call = {
            "user_type": turn["user_type"],
            "run_id": run,
            "model": model,
            "input_tokens": 80 + i % 700,
            "output_tokens": 20 + i % 200,
            "latency_ms": 300.0 + (i * 13) % 2000,
            "success": True,
            "cost_usd": 0.0001,
        }
        who = ("default", sid, run, f"u{i % 5000:05d}")
        batch.append(
            (f"t{i:09d}", ts - 0.001, "turn", who[0], who[1], who[2], who[3], json.dumps(turn))
        )
        batch.append(
            (f"c{i:09d}", ts - 0.5, "llm_call", who[0], who[1], who[2], who[3], json.dumps(call))
        )
        if len(batch) >= 20_000:
            conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
            batch = []
    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
    conn.commit()
    conn.close()
    print(f"built {2 * turns:,} events in {time.perf_counter() - started:.0f} s")


def _run(cmd: list[str], stdout: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process."""
    with stdout.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{cmd[0]} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return seconds, usage.ru_maxrss / 1024


def _lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    db = args.db or Path(f"/tmp/chatwatch-bench-export-{args.turns}.db")
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if args.rebuild or not db.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        build(db, args.turns, end.timestamp())
    first_day = (end - timedelta(days=DAYS)).date()
    chatwatch = [sys.executable, "-c", "from chatwatch.cli import main; main()"]
    out = Path("/tmp/chatwatch-bench-export.out")
    print(f"store {db} ({db.stat().st_size / 1e6:,.0f} MB)")
    empty = str(first_day - timedelta(days=30))
    base_cmd = [*chatwatch, "export", "--type", "turns", "--db", f"sqlite:///{db}"]
    startup, startup_rss = _run([*base_cmd, "--start-date", empty, "--end-date", empty], out)
    print(
        f"  process start-up (no rows): {startup:.1f} s, {startup_rss:.0f} MB;"
        " rows/s counts the whole process; 'marginal' is the extra rows over the extra"
        " seconds from a tenth to all (no start-up in it)"
    )
    print("  tool      format  range          rows   seconds      rows/s    marginal  peak RSS")
    tenth: dict[str, tuple[int, float]] = {}
    for label, days in (("a tenth", max(DAYS // 10, 1)), ("all", DAYS)):
        last_day = first_day + timedelta(days=days - 1)
        for fmt in ("csv", "jsonl"):
            cmd = [
                *chatwatch,
                "export",
                "--type",
                "turns",
                "--format",
                fmt,
                "--start-date",
                str(first_day),
                "--end-date",
                str(last_day),
                "--db",
                f"sqlite:///{db}",
            ]
            seconds, rss = _run(cmd, out)
            rows = _lines(out) - (fmt == "csv")
            marginal = ""
            if fmt in tenth:
                more_rows, more_s = rows - tenth[fmt][0], seconds - tenth[fmt][1]
                marginal = f"{more_rows / more_s:>10,.0f}/s" if more_s > 0 else ""
            tenth[fmt] = (rows, seconds)
            print(
                f"  chatwatch {fmt:5} {label:8} {rows:>10,} {seconds:7.1f} s"
                f" {rows / seconds:>10,.0f}/s {marginal:>12} {rss:7.0f} MB"
            )
        if shutil.which("sqlite3"):
            start = datetime.combine(first_day, datetime.min.time(), UTC).timestamp()
            stop = start + days * 86400
            query = SQL.format(start=start, end=stop)
            seconds, rss = _run(["sqlite3", "-csv", "-header", str(db), query], out)
            rows = _lines(out) - 1
            print(
                f"  sqlite3   csv   {label:8} {rows:>10,} {seconds:7.1f} s"
                f" {rows / seconds:>10,.0f}/s {'':>12} {rss:7.0f} MB   (baseline)"
            )
    out.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
