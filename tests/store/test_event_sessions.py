"""The session index (``event_sessions``): filled by the journal fold, it holds exactly the
stored events that have a session, whichever way they were written, and loses them with
the events when retention deletes them."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from chatwatch.events import Event
from chatwatch.store import Store, journal, writer
from chatwatch.store.maintenance import Plan, run_maintenance
from chatwatch.store.writer import merge_ranges, prepare
from traffic import START, traffic_batches


def indexed(store: Store) -> list[tuple[Any, ...]]:
    with store.read() as conn:
        rows = conn.execute(text("SELECT service, session_id, ts, id FROM event_sessions"))
        return sorted(tuple(r) for r in rows)


def with_sessions(store: Store, before: float | None = None) -> list[tuple[Any, ...]]:
    sql = "SELECT service, session_id, ts, id FROM events WHERE session_id IS NOT NULL"
    with store.read() as conn:
        rows = conn.execute(text(sql)).all()
    return sorted(tuple(r) for r in rows if before is None or r[2] >= before)


def sessionless(batches: list[list[Event]]) -> list[Event]:
    """Copies of some events without a session (as an app without sessions sends them)."""
    return [
        e.model_copy(update={"id": f"free-{i}", "session_id": None})
        for i, e in enumerate(batches[0][:40])
    ]


def test_fold_indexes_every_stored_event_with_a_session(store: Store) -> None:
    batches = traffic_batches()  # retried repeats included: stored once, indexed once
    batches.insert(2, sessionless(batches))
    prepared = [prepare(b, store_text=False) for b in batches]
    for start in range(0, len(prepared), 3):
        store.ingest_prepared(prepared[start : start + 3], defer=True)
    assert indexed(store) == []  # not before the fold
    assert store.fold_journal() > 0
    want = with_sessions(store)
    assert len(want) > 500
    assert indexed(store) == want
    with store.read() as conn:
        free = conn.execute(text("SELECT count(*) FROM events WHERE session_id IS NULL"))
        assert free.scalar() == 40  # stored, and left out of the index


def test_a_failing_index_copy_fails_the_whole_fold(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy runs on a second thread beside the merge (SQLite): its error is the
    fold's, the transaction applies nothing, and the next fold applies everything."""
    if store.dialect != "sqlite":
        pytest.skip("PostgreSQL's index rows come from the journal, on the folding thread")
    prepared = [prepare(b, store_text=False) for b in traffic_batches()]
    for start in range(0, len(prepared), 3):
        store.ingest_prepared(prepared[start : start + 3], defer=True)
    with store.read() as conn:
        rows = conn.execute(text("SELECT count(*) FROM rollup_journal")).scalar_one()
    assert rows >= 2  # several rows: the copy runs beside their merge
    broken = "INSERT INTO no_such_table SELECT ? WHERE ? > 0"
    monkeypatch.setattr(writer, "_SQLITE_INDEX_FROM_EVENTS", broken)
    with pytest.raises(OperationalError, match="no_such_table") as failed, store.write() as conn:
        writer.fold_journal(conn)
    # named as SQLAlchemy names a failed statement, so the store tells "unavailable" apart
    assert isinstance(failed.value.orig, sqlite3.OperationalError)
    assert journal.unavailable(failed.value)
    with store.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM rollup_journal")).scalar_one() == rows
        assert conn.execute(text("SELECT count(*) FROM sessions")).scalar_one() == 0
    assert indexed(store) == []
    monkeypatch.undo()
    assert store.fold_journal() == rows
    assert indexed(store) == with_sessions(store) != []


def test_immediate_writes_index_at_once(store: Store) -> None:
    for batch in traffic_batches():
        store.ingest(batch)
    assert indexed(store) == with_sessions(store)


def test_a_session_page_reads_through_the_index_after_a_crash(db_url: str) -> None:
    batches = traffic_batches()
    writer = Store(db_url)
    for start in range(0, len(batches), 4):
        writer.ingest_prepared(
            [prepare(b, store_text=False) for b in batches[start : start + 4]], defer=True
        )
    writer.close()  # killed before folding: its journal rows are all there is
    reader = Store(db_url)
    try:
        service, session_id = with_sessions(reader)[0][:2]
        got = reader.session_events(service, session_id)  # folds first
        with reader.read() as conn:
            sql = "SELECT id FROM events WHERE service = :s AND session_id = :sid ORDER BY ts, id"
            want = [r[0] for r in conn.execute(text(sql), {"s": service, "sid": session_id})]
        assert [e.id for e in got] == want and len(want) > 1
        assert indexed(reader) == with_sessions(reader)
    finally:
        reader.close()


def test_retention_deletes_index_rows_with_their_events(store: Store) -> None:
    for batch in traffic_batches():
        store.ingest(batch)
    cutoff = START - 300  # half of the ten minutes of traffic
    plan = Plan(store.minute_cutoff(START), cutoff, batch_rows=100)
    result = run_maintenance(store, plan)
    assert result.events > 0
    remaining = with_sessions(store)
    assert remaining == with_sessions(store, before=cutoff)
    assert indexed(store) == remaining


def test_ranges_merge_where_they_meet() -> None:
    assert merge_ranges([(10, 20), (0, 10), (30, 40), (35, 38)]) == [(0, 20), (30, 40)]
    assert merge_ranges([]) == []
