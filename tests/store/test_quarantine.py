"""A fold can never block reads: a rollup-journal row that fails to fold is moved to
``rollup_journal_quarantine`` (counted, logged once without its content) and the rest is
folded; a database that cannot be written is not a row's fault and quarantines nothing."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from sqlalchemy import event, insert, select

from chatwatch.events import Turn, parse_events
from chatwatch.store import Store
from chatwatch.store.journal import append
from chatwatch.store.rollup import compute_delta
from chatwatch.store.schema import rollup_journal, rollup_journal_quarantine
from chatwatch.store.writer import prepare, write_prepared


def _turns(n: int, **fields: Any) -> list[Any]:
    now = time.time()
    return parse_events(
        [
            {"type": "turn", "id": f"t{i}-{now}", "ts": now, "response_time_ms": 100, **fields}
            for i in range(n)
        ]
    )


def _journal(store: Store, events: list[Any]) -> None:
    """Store events with their increments left in the journal, as the server's writer does."""
    with store.write() as conn:
        write_prepared(conn, [prepare(events, store_text=False)], defer=True)


def _spoil(store: Store, blob: bytes) -> None:
    with store.write() as conn:
        conn.execute(
            insert(rollup_journal).values(
                created_at=time.time(), events=1, min_ts=time.time(), delta=blob
            )
        )


def _requests(store: Store) -> int:
    now = int(time.time())
    return int(store.aggregate(now - 3600, now + 60).n("turns"))


def test_a_spoiled_row_is_quarantined_and_reads_go_on(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A row that is no delta at all, between good rows: the good ones count, it is kept aside."""
    _journal(store, _turns(3))
    _spoil(store, b"\x80\x05 not a delta, secret-user-id")
    _journal(store, _turns(2, service="other"))
    with caplog.at_level(logging.ERROR, "chatwatch.store"):
        assert _requests(store) == 5
        assert _requests(store) == 5
    assert store.quarantined() == 1
    assert store.quarantined_rows == 1
    assert store.fold_failures == 0
    errors = [r for r in caplog.records if "quarantine" in r.getMessage()]
    assert len(errors) == 1 and "secret" not in errors[0].getMessage()
    with store.read() as conn:
        assert conn.execute(select(rollup_journal.c.id)).all() == []
        kept = conn.execute(select(rollup_journal_quarantine)).one()
    assert kept.delta.startswith(b"\x80\x05 not") and kept.events == 1
    assert kept.error == "UnpicklingError" or kept.error.endswith("Error")


def test_a_delta_the_database_cannot_store_is_quarantined(store: Store) -> None:
    """A delta holding a NUL label (made by a writer that did not validate): on PostgreSQL
    the fold fails on it alone; either way reads answer and the good rows count."""
    _journal(store, _turns(2))
    bad = Turn.model_construct(
        type="turn",
        id="x",
        ts=time.time(),
        service="a\x00b",
        response_time_ms=1.0,
        success=True,
        cached=False,
        rag_used=False,
        rag_found=False,
        sender_type="user",
        session_id=None,
        user_id=None,
        user_type=None,
        run_id=None,
        error_type=None,
        topic="t\x00",
        model=None,
        tokens=None,
        input_text=None,
        output_text=None,
        attributes={},
    )
    with store.write() as conn:
        append(conn, compute_delta([bad]), 1, time.time())
    _journal(store, _turns(1))
    total = _requests(store)
    if store.dialect == "postgresql":
        assert total == 3 and store.quarantined() == 1
    else:  # SQLite stores a NUL: nothing to quarantine
        assert total == 4 and store.quarantined() == 0


def test_an_unwritable_database_quarantines_nothing(sqlite_url: str) -> None:
    """Read-only: the fold fails (counted), reads answer from the rollups, no row is moved."""
    store = Store(sqlite_url)
    _journal(store, _turns(2))
    store.engine.dispose()

    @event.listens_for(store.engine, "connect")
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA query_only=ON")

    try:
        assert _requests(store) == 0  # the journal cannot be folded into the rollups
        assert _requests(store) == 0
        assert store.fold_failures == 2
        with pytest.raises(Exception, match="readonly"):
            store.probe_write()
        assert store.quarantined() == 0
        event.remove(store.engine, "connect", _read_only)
        store.engine.dispose()
        assert _requests(store) == 2  # writable again: the same rows fold
        assert store.fold_failures == 0
    finally:
        store.close()
