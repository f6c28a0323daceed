"""The rollup journal: deferred increments give the same rollups as immediate ones, are
applied exactly once, survive a crash, and are folded before any read."""

from __future__ import annotations

import asyncio
import pickle
import threading
from typing import Any

import pytest
from sqlalchemy import func, select, text

from chatwatch.events import Event
from chatwatch.server.group_commit import GroupWriter
from chatwatch.store import Store, journal
from chatwatch.store.journal import decode, encode
from chatwatch.store.rollup import SessionDelta
from chatwatch.store.schema import rollup_journal
from chatwatch.store.writer import prepare
from traffic import START, traffic_batches

TABLES = {
    "rollups": "res, bucket, service, series, model, dim, user_type, channel",
    "rollup_hist": "res, bucket, service, series, model, user_type, channel, bin",
    "sessions": "service, session_id",
    "user_activity": "day, service, user_id",
}


def snapshot(store: Store) -> dict[str, list[Any]]:
    """Every rollup and session row, in key order (floats rounded: sums in another order)."""
    out: dict[str, list[Any]] = {}
    with store.read() as conn:
        for table, key in TABLES.items():
            rows = conn.execute(text(f"SELECT * FROM {table} ORDER BY {key}")).all()
            out[table] = [
                tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in rows
            ]
    return out


def journal_rows(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(rollup_journal)).scalar() or 0)


def ingest_deferred(
    store: Store, batches: list[list[Event]], group: int = 3, *, encoded: bool = False
) -> int:
    """Write the batches a few per transaction; returns how many stored new events.
    ``encoded``: each batch's increments encoded for the journal first, as the server's
    request threads do (server/parse_pool.py)."""
    prepared = [prepare(b, store_text=False) for b in batches]
    if encoded:
        for batch in prepared:
            batch.encode_delta()
    writes = 0
    for start in range(0, len(prepared), group):
        results = store.ingest_prepared(prepared[start : start + group], defer=True)
        writes += any(r.accepted for r in results)
    return writes


def test_encode_decode_round_trip() -> None:
    batch = traffic_batches(400)[0]
    delta = prepare(batch, store_text=False).delta
    back = decode(encode(delta))
    assert back.counts == delta.counts
    assert back.hist == delta.hist
    assert back.users == delta.users
    assert back.sessions == delta.sessions
    assert delta.sessions  # the workload has sessions to carry


def test_a_group_row_holds_its_batches_merged(store: Store) -> None:
    """A group journalled as its batches' own encodings reads back as their merge, with
    the group's rowid ranges."""
    batches = traffic_batches(300)[:3]
    parts = [prepare(b, store_text=False) for b in batches]
    merged = prepare(batches[0], store_text=False)  # as the group writer merged a group
    for batch in batches[1:]:
        merged.delta.merge(prepare(batch, store_text=False).delta)
    with store.write() as conn:
        journal_id = journal.append_group(
            conn, [encode(p.delta) for p in parts], [(0, 7)], 900, 0.0
        )
        blob = conn.execute(
            select(rollup_journal.c.delta).where(rollup_journal.c.id == journal_id)
        ).scalar_one()
    back = decode(blob)
    assert back.counts.keys() == merged.delta.counts.keys()
    for key, (n, total) in merged.delta.counts.items():
        assert back.counts[key][0] == n and back.counts[key][1] == pytest.approx(total)
    assert back.hist == merged.delta.hist
    assert back.users == merged.delta.users
    assert back.sessions == merged.delta.sessions
    assert len(parts) == 3 and back.ranges == [(0, 7)]


def test_decode_loads_no_objects() -> None:
    forged = pickle.dumps(({}, {}, {}, [SessionDelta("svc", "s1")]))
    with pytest.raises(pickle.UnpicklingError, match="no objects"):
        decode(forged)


@pytest.fixture
def reference_url(tmp_path: Any) -> str:
    """A second database to write the same events to immediately (SQLite for both
    dialects: the rollups do not depend on the dialect)."""
    return f"sqlite:///{tmp_path / 'reference.db'}"


def test_deferred_equals_immediate(db_url: str, reference_url: str) -> None:
    batches = traffic_batches()
    deferred, immediate = Store(db_url), Store(reference_url)
    try:
        writes = ingest_deferred(deferred, batches)
        for batch in batches:
            immediate.ingest(batch)
        assert journal_rows(deferred) == writes > 5  # one row per write that stored events
        assert deferred.fold_journal() > 0
        assert journal_rows(deferred) == 0
        want = snapshot(immediate)
        assert want["rollups"] and want["sessions"]
        assert snapshot(deferred) == want
        assert deferred.fold_journal() == 0  # nothing applied twice
        assert snapshot(deferred) == want
    finally:
        deferred.close()
        immediate.close()


@pytest.mark.parametrize("encoded", [False, True], ids=["encoded-by-writer", "encoded-before"])
def test_reads_fold_first_and_a_crash_loses_nothing(
    db_url: str, reference_url: str, encoded: bool
) -> None:
    """A new process folds what a killed one journalled, from the database alone: rows of
    one delta per group, or (on SQLite) of each batch's own encoded increments."""
    batches = traffic_batches()
    writer = Store(db_url)
    ingest_deferred(writer, batches, encoded=encoded)
    writer.close()  # gone without folding, as a killed server would be

    reference = Store(reference_url)
    for batch in batches:
        reference.ingest(batch)
    start, end = int(START) - 3600, int(START) + 60
    want = reference.aggregate(start, end, now=START)
    want_sessions = reference.recent_sessions(0, START + 60, limit=500)
    reference.close()

    reader = Store(db_url)  # a new process on the same database
    try:
        assert journal_rows(reader) > 0
        got = reader.aggregate(start, end, now=START)
        assert journal_rows(reader) == 0
        assert got.n("turns") == want.n("turns") > 0
        assert got.n("llm_calls") == want.n("llm_calls") > 0
        assert got.total("turns") == pytest.approx(want.total("turns"))
        assert reader.recent_sessions(0, START + 60, limit=500) == want_sessions
    finally:
        reader.close()


@pytest.mark.postgres
def test_concurrent_folds_apply_each_row_once(pg_url: str, tmp_path: Any) -> None:
    batches = traffic_batches()
    reference = Store(f"sqlite:///{tmp_path / 'reference.db'}")
    for batch in batches:
        reference.ingest(batch)
    want = snapshot(reference)
    reference.close()

    stores = [Store(pg_url) for _ in range(3)]  # as three server processes
    done = threading.Event()
    errors: list[BaseException] = []

    def fold(index: int) -> None:
        try:
            while not done.is_set():
                stores[index + 1].fold_journal()
        except BaseException as exc:
            errors.append(exc)

    folders = [threading.Thread(target=fold, args=(i,)) for i in range(2)]
    try:
        for thread in folders:
            thread.start()
        for batch in batches:  # in time order, as one writer sends them
            stores[0].ingest_prepared([prepare(batch, store_text=False)], defer=True)
    finally:
        done.set()
        for thread in folders:
            thread.join()
    try:
        assert not errors
        stores[0].fold_journal()
        assert journal_rows(stores[0]) == 0
        assert snapshot(stores[0]) == want
    finally:
        for store in stores:
            store.close()


def test_group_writer_folds_in_the_background(db_url: str) -> None:
    store = Store(db_url)
    writer = GroupWriter(store, fold_after_s=0.05)
    batches = traffic_batches()
    unique = {e.id: e for batch in batches for e in batch}

    async def send() -> int:
        results = [await writer.ingest(prepare(b, store_text=False)) for b in batches]
        return sum(r.accepted for r in results)

    try:
        assert asyncio.run(send()) == len(unique)
        for _ in range(200):  # no read is made, so only the writer can empty the journal
            if journal_rows(store) == 0:
                break
            threading.Event().wait(0.05)
        assert journal_rows(store) == 0
        with store.read() as conn:
            turns = conn.execute(
                text("SELECT sum(n) FROM rollups WHERE res = 60 AND series = 'turns'")
            ).scalar()
        assert turns == sum(1 for e in unique.values() if e.type == "turn") > 0
    finally:
        writer.close()
        store.close()


def test_closing_the_writer_folds_what_it_journalled(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    writer = GroupWriter(store, fold_after_s=3600.0)  # never by time in this test
    batch = traffic_batches()[0]

    async def send() -> int:
        return (await writer.ingest(prepare(batch, store_text=False))).accepted

    try:
        assert asyncio.run(send()) == len(batch)
        assert journal_rows(store) == 1
        writer.close()
        assert journal_rows(store) == 0
        with pytest.raises(RuntimeError, match="closed"):
            asyncio.run(send())
    finally:
        store.close()


def test_a_process_folds_its_own_increments_from_memory(db_url: str, reference_url: str) -> None:
    """Rows this store journalled are not read back: with their stored copies spoiled, its
    fold is still exact, while another process (which must decode them) refuses them."""
    batches = traffic_batches()
    writer, reference = Store(db_url), Store(reference_url)
    try:
        ingest_deferred(writer, batches)
        for batch in batches:
            reference.ingest(batch)
        with writer.write() as conn:
            conn.execute(rollup_journal.update().values(delta=b"spoiled"))
        other = Store(db_url)
        try:  # (its fold would quarantine them: tests/store/test_quarantine.py)
            with pytest.raises(pickle.UnpicklingError), other.write() as conn:
                journal.take(conn)
        finally:
            other.close()
        assert writer.fold_journal() > 0
        assert journal_rows(writer) == 0
        assert snapshot(writer) == snapshot(reference)
    finally:
        writer.close()
        reference.close()


def test_a_journal_row_is_dated_by_the_earliest_event_it_inserted(store: Store) -> None:
    """Its min_ts (where the fold tells the read cache to start forgetting) comes from
    the events the write inserted: not from stored ids sent again, nor an empty batch."""
    old, new = traffic_batches(60)[:2]
    store.ingest_prepared([prepare(old, store_text=False)], defer=True)
    again = sorted(old, key=lambda e: e.ts)[:5]  # the earliest, already stored
    fresh = sorted(new, key=lambda e: e.ts)
    group = [
        prepare([], store_text=False),
        prepare(again + fresh[10:], store_text=False),
        prepare(fresh[:10] + again, store_text=False),
    ]
    store.ingest_prepared(group, defer=True)
    with store.read() as conn:
        dates = conn.execute(select(rollup_journal.c.min_ts).order_by(rollup_journal.c.id)).all()
    assert [row[0] for row in dates] == [min(e.ts for e in old), fresh[0].ts]
    assert fresh[0].ts > min(e.ts for e in again)
