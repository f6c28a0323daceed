"""The events table's cost: µs per row with and without its key and each index.

Writes the same realistic rows (time-ordered like live traffic, ~15 events per session,
2,000 sessions open at once, a run's ~4 events interleaved with other sessions' and a
third of events without a run; or, with ``--sdk``, the SDK's own demo-traffic events as
the server stores them) in transactions of 4,000 rows with plain ``executemany``,
the server's way, into SQLite tables that differ in one thing each: the primary key (a
text key on a rowid table, as in migration 0001, or the table clustered on the key,
``WITHOUT ROWID``), the order of the ids (the SDK's time-ordered ids or random UUIDs), the
page cache, and each index. Prints µs per row over the first ``--rows`` / 10 rows and
over the last ones, so a cost that grows with the table shows, and over all rows (a WAL
checkpoint falls in some tenths and not in others).

    .venv/bin/python bench/events_table.py [--rows N] [--sdk]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Row = tuple[str, float, str, str, str, str | None, str, str]
CHUNK = 4000

COLUMNS = (
    "ts REAL NOT NULL, type TEXT NOT NULL, service TEXT NOT NULL, session_id TEXT,"
    " run_id TEXT, user_id TEXT, data TEXT NOT NULL"
)
TS = "CREATE INDEX ix_ts ON events (ts)"
SESSION = "CREATE INDEX ix_session ON events (service, session_id)"
RUN = "CREATE INDEX ix_run ON events (run_id)"
RUN_PARTIAL = "CREATE INDEX ix_run ON events (run_id) WHERE run_id IS NOT NULL"
SIDE = (
    "CREATE TABLE event_sessions (service TEXT NOT NULL, session_id TEXT NOT NULL,"
    " ts REAL NOT NULL, id TEXT NOT NULL, PRIMARY KEY (service, session_id, ts, id))"
    " WITHOUT ROWID"
)


@dataclass(frozen=True)
class Variant:
    name: str
    ddl: tuple[str, ...]
    random_ids: bool = False
    cache_mb: int = 0  # 0: SQLite's default (2 MB)
    checkpoint_pages: int = 0  # 0: SQLite's default WAL auto-checkpoint (1000 pages)
    sort: bool = False  # each transaction's rows in (service, session_id) order
    page_kb: int = 0  # 0: SQLite's default (4 KB)
    # >0: no session index on events; a (service, session_id, ts, id) table filled every
    # this many rows in key order instead (what the journal fold does)
    side_every: int = 0


def _table(key: str = "id TEXT PRIMARY KEY", suffix: str = "") -> str:
    return f"CREATE TABLE events ({key}, {COLUMNS}){suffix}"


# chatwatch's SQLite settings now (store/engine.py)
NOW: dict[str, Any] = {"cache_mb": 8, "checkpoint_pages": 10_000, "page_kb": 8}

VARIANTS = (
    Variant(
        "schema: text key on rowid table; ts, session, run indexes", (_table(), TS, SESSION, RUN)
    ),
    Variant("  same, random ids (uuid4)", (_table(), TS, SESSION, RUN), random_ids=True),
    Variant("  same, 32 MB page cache", (_table(), TS, SESSION, RUN), cache_mb=32),
    Variant(
        "  same, 32 MB cache, checkpoint at 10,000 pages",
        (_table(), TS, SESSION, RUN),
        cache_mb=32,
        checkpoint_pages=10_000,
    ),
    Variant(
        "  same, and rows sorted by session (chatwatch before 0012)",
        (_table(), TS, SESSION, RUN),
        cache_mb=32,
        checkpoint_pages=10_000,
        sort=True,
    ),
    Variant(
        "  session index as a side table filled every 50,000 (0012)",
        (_table(), TS, RUN, SIDE),
        cache_mb=32,
        checkpoint_pages=10_000,
        side_every=50_000,
    ),
    Variant(
        "  same, partial run index",
        (_table(), TS, RUN_PARTIAL, SIDE),
        cache_mb=32,
        checkpoint_pages=10_000,
        side_every=50_000,
    ),
    Variant(
        "  same, full run index, 8 MB cache, 8 KB pages (chatwatch now)",
        (_table(), TS, RUN, SIDE),
        side_every=50_000,
        **NOW,
    ),
    Variant(
        "events alone as chatwatch has them: key, ts and run indexes", (_table(), TS, RUN), **NOW
    ),
    Variant("  same, the run index partial", (_table(), TS, RUN_PARTIAL), **NOW),
    Variant("  without the ts index", (_table(), SESSION, RUN)),
    Variant("  without the session index", (_table(), TS, RUN)),
    Variant("  without the run index", (_table(), TS, SESSION)),
    Variant("  key only", (_table(),)),
    Variant(
        "WITHOUT ROWID (clustered on id), same indexes",
        (_table(suffix=" WITHOUT ROWID"), TS, SESSION, RUN),
    ),
    Variant(
        "  same, random ids (uuid4)",
        (_table(suffix=" WITHOUT ROWID"), TS, SESSION, RUN),
        random_ids=True,
    ),
    Variant("no key, no index (raw)", (_table("id TEXT NOT NULL"),)),
)


def rows(n: int, random_ids: bool, seed: int = 1) -> Iterator[Row]:
    """``n`` rows in time order over sessions that open, live ~15 events and close."""
    rng = random.Random(seed)
    open_sessions = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(2000)]
    ts = time.time() - n / 100
    tag = f"{rng.getrandbits(40):010x}"
    data = json.dumps({"response_time_ms": 812.5, "model": "llama-3.1-8b-instant", "x": "y" * 80})
    runs = [f"{int(ts * 1000):011x}{tag}{slot:06x}" for slot in range(2000)]
    next_run = 2000
    for i in range(n):
        ts += rng.expovariate(100)
        slot = rng.randrange(2000)
        if rng.random() < 1 / 15:
            open_sessions[slot] = uuid.UUID(int=rng.getrandbits(128)).hex
        eid = (
            uuid.UUID(int=rng.getrandbits(128)).hex
            if random_ids
            else (f"{int(ts * 1000):011x}{tag}{i & 0xFFFFFF:06x}")
        )
        # a run (a turn: its cache lookup, retrieval, LLM calls) is named when it begins
        # and its events come over the next seconds, between other sessions' events, as
        # the SDK records them; a third of events (connects, session starts) have none
        if rng.random() < 1 / 4:
            runs[slot] = f"{int(ts * 1000):011x}{tag}{next_run:06x}"
            next_run += 1
        run = runs[slot] if i % 3 else None
        yield (eid, ts, "turn", "assistant", open_sessions[slot], run, f"u{slot}", data)


def sdk_rows(n: int) -> list[Row]:
    """``n`` rows as the server stores the SDK's events of the demo traffic (``--sdk``):
    its runs' events interleave as a live app's do, which the synthetic rows only model."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from chatwatch.events_fast import decode_batch
    from chatwatch.store.writer import prepare
    from traffic import sdk_events

    events = sdk_events(n, CHUNK)
    out: list[Row] = []
    for start in range(0, len(events), CHUNK):
        body = json.dumps(events[start : start + CHUNK]).encode()
        decoded = decode_batch(body)
        assert decoded is not None  # the SDK's events take msgspec's path
        out.extend(prepare(decoded, store_text=False).rows.values())
    return out


def measure(
    variant: Variant, n: int, path: Path, given: list[Row] | None = None
) -> tuple[float, float, float]:
    """(µs per row over the first n/10 rows, over the last n/10, over all: a WAL
    checkpoint lands in some tenths and not others, so ``all`` is the steadier);
    ``given``: these rows instead of the synthetic ones."""
    conn = sqlite3.connect(path, isolation_level=None)
    if variant.page_kb:
        conn.execute(f"PRAGMA page_size={variant.page_kb * 1024}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    if variant.cache_mb:
        conn.execute(f"PRAGMA cache_size=-{variant.cache_mb * 1024}")
    if variant.checkpoint_pages:
        conn.execute(f"PRAGMA wal_autocheckpoint={variant.checkpoint_pages}")
    for ddl in variant.ddl:
        conn.execute(ddl)
    sql = "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    tenth = max(n // 10, CHUNK)
    first = last = total = 0.0
    chunk: list[Row] = []
    side: list[tuple[str, str, float, str]] = []
    side_sql = "INSERT OR IGNORE INTO event_sessions VALUES (?, ?, ?, ?)"
    done = 0
    for row in rows(n, variant.random_ids) if given is None else given:
        chunk.append(row)
        if len(chunk) == CHUNK:
            start = time.thread_time()
            if variant.sort:
                chunk.sort(key=lambda r: (r[3], r[4]))
            conn.execute("BEGIN")
            conn.executemany(sql, chunk)
            conn.execute("COMMIT")
            if variant.side_every:
                side.extend((r[3], r[4], r[1], r[0]) for r in chunk if r[4])
                if len(side) >= variant.side_every:
                    side.sort()
                    conn.execute("BEGIN")
                    conn.executemany(side_sql, side)
                    conn.execute("COMMIT")
                    side = []
            spent = time.thread_time() - start
            total += spent
            if done < tenth:
                first += spent
            elif done >= n - tenth:
                last += spent
            done += len(chunk)
            chunk = []
    conn.close()
    return first / tenth * 1e6, last / tenth * 1e6, total / max(done, 1) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--sdk", action="store_true", help="the SDK's demo-traffic rows")
    parser.add_argument("--only", default="", help="the variants whose name holds this")
    args = parser.parse_args()
    given = sdk_rows(args.rows) if args.sdk else None
    if given is not None:
        args.rows = len(given)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{args.rows:,} rows, transactions of {CHUNK:,}; CPU µs per row (this thread)")
    print(f"{'variant':<66} {'first 10 %':>10} {'last 10 %':>10} {'all':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for i, variant in enumerate(VARIANTS):
            if (given is not None and variant.random_ids) or args.only not in variant.name:
                continue  # the SDK's ids are its own
            first, last, whole = measure(variant, args.rows, Path(tmp) / f"v{i}.db", given)
            print(f"{variant.name:<66} {first:>10.2f} {last:>10.2f} {whole:>6.2f}")
            for leftover in Path(tmp).glob(f"v{i}.db*"):
                leftover.unlink()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
