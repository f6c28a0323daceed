"""The ingest budget: CPU per event of each stage of the server's pipeline, measured one
stage at a time in this process on the same batches the server was sent.

Each stage is the server's own code, timed with this thread's CPU clock: decode+validate
(gunzip, then msgspec's one pass, pydantic only when msgspec is unsure), rows+increments (event
rows and rollup increments), hand-off (the pickles a batch and its prepared result cost
crossing to and from the ingest worker process), SQLite (the events' rows written and
committed, grouped as the group writer groups them) and journal (each batch's rollup
increments encoded, which the server does on its request threads, journalled with the
rowid ranges of the group's events, then folded into the rollups and event_sessions).
What the server spent beyond their sum is HTTP: uvicorn, routing, auth, threads and the
event loop.
"""

from __future__ import annotations

import gc
import gzip
import json
import pickle
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chatwatch.events import parse_events
from chatwatch.events_fast import decode_batch
from chatwatch.server.gc_tuning import tune_for_server
from chatwatch.store import Store
from chatwatch.store.journal import Journalled
from chatwatch.store.journal import append_group as journal_append_group
from chatwatch.store.writer import Prepared, _insert_new, fold_journal
from chatwatch.store.writer import prepare as prepare_events

__all__ = ["STAGES", "bodies_of", "budget"]

STAGES = ("decode+validate", "rows+increments", "hand-off", "SQLite", "journal")
# batches per write transaction, as the server's group writer makes them with 4 sender
# processes: 1 000 000 events in 2 000-event batches made 250 groups of 1 to 4 batches,
# 2.0 on average (with 8, the budget's journal stage had 3 rows to merge per fold
# where the server has 12 to 15, and read ~0.4 µs per event low)
GROUP = 2
FOLD_EVENTS = 50_000  # the group writer folds the journal this often under load


def bodies_of(batches: list[list[dict[str, Any]]]) -> list[bytes]:
    """The batches as the SDK's HTTP transport sends them (compact JSON, gzipped)."""
    return [
        gzip.compress(json.dumps(b, separators=(",", ":")).encode(), compresslevel=5)
        for b in batches
    ]


def _decode(body: bytes, now: float) -> list[Any]:
    """What the ingest route runs: msgspec, and pydantic when msgspec is unsure."""
    fast = decode_batch(body, max_age_s=30 * 86400.0, now=now)
    return list(parse_events(body)) if fast is None else fast


def _prepared(body: bytes, now: float, spent: dict[str, float]) -> Prepared:
    """One body decoded and prepared, each stage's CPU added to ``spent``."""
    seconds, parsed = _timed(lambda: _decode(gzip.decompress(body), now))
    spent["decode+validate"] += seconds
    seconds, ready = _timed(lambda: prepare_events(parsed, store_text=False))
    spent["rows+increments"] += seconds
    # a worker would pickle the body there and the result, without its events, back
    kept, ready.events = ready.events, None
    seconds, _ = _timed(lambda: pickle.loads(pickle.dumps((body, ready), 5)))
    spent["hand-off"] += seconds
    ready.events = kept
    return ready


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.thread_time()
    result = fn()
    return time.thread_time() - start, result


def budget(bodies: list[bytes], db: Path, events: int) -> dict[str, float]:
    """µs of CPU per event for each stage, over every body (``events`` in all), with the
    server's collector settings (server/gc_tuning.py): the stages as the server runs them."""
    thresholds = gc.get_threshold()
    tune_for_server()
    try:
        return _budget(bodies, db, events)
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def _budget(bodies: list[bytes], db: Path, events: int) -> dict[str, float]:
    # a group at a time, as the server holds them: keeping every batch's result until
    # the end made each stage slower at 1 M events (the collector scanning what is kept)
    spent = dict.fromkeys(STAGES, 0.0)
    now = time.time()
    store = Store(f"sqlite:///{db}")
    try:
        known: dict[int, Journalled] = {}
        unfolded = 0
        for start in range(0, len(bodies), GROUP):
            group = [_prepared(body, now, spent) for body in bodies[start : start + GROUP]]
            rows = {k: row for p in group for k, row in p.rows.items()}
            t0 = time.thread_time()
            for p in group:  # on the request threads, as the server encodes them
                p.encode_delta()
            t1 = time.thread_time()
            spent["journal"] += t1 - t0
            parts = [p.encoded for p in group if p.encoded is not None]
            t0 = time.thread_time()
            with store.write() as conn:
                _, stored = _insert_new(conn, rows)
                t1 = time.thread_time()
                assert stored is not None  # SQLite: the rowids of the rows
                # the group's batches journalled as encoded (writer._journal_apart)
                journal_id = journal_append_group(conn, parts, [stored], len(rows), 0.0)
                group[0].delta.ranges = [stored]
                known[journal_id] = [p.delta for p in group]
                t2 = time.thread_time()
            spent["SQLite"] += t1 - t0 + time.thread_time() - t2  # begin and commit too
            spent["journal"] += t2 - t1
            unfolded += len(rows)
            if unfolded >= FOLD_EVENTS or start + GROUP >= len(bodies):
                # the process's CPU: the fold copies the session index on a second thread
                t0 = time.process_time()
                with store.write() as conn:
                    fold_journal(conn, known)
                spent["journal"] += time.process_time() - t0
                known, unfolded = {}, 0
    finally:
        store.close()
    return {stage: seconds / events * 1e6 for stage, seconds in spent.items()}
