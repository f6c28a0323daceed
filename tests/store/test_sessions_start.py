"""Sessions start themselves; reconnects are decided where every process's events meet."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text

from chatwatch.config import Settings
from chatwatch.events import parse_events
from chatwatch.metrics import Catalogue
from chatwatch.store import Store
from chatwatch.store.writer import _stored_sessions, _stored_sessions_sql

T0 = time.time() - 120  # recent: the sessions are still active


def _ev(i: int, kind: str, sid: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "id": f"{sid}-{kind}-{i}", "ts": T0 + i, "session_id": sid, **fields}


def _values(store: Store, url: str) -> dict[str, float | None]:
    cat = Catalogue(store, Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    return cat.values(cat.reading("all"))


def test_first_event_starts_a_session_once(db_url: str) -> None:
    """Turns alone start sessions; a later (or repeated) session_started counts nothing."""
    store = Store(db_url)
    store.ingest(
        parse_events([_ev(i, "turn", f"h{i % 5}", response_time_ms=10.0) for i in range(20)])
    )
    store.ingest(parse_events([_ev(30, "session_started", "h0"), _ev(31, "session_started", "w1")]))
    store.ingest(parse_events([_ev(32, "session_started", "w1", channel="websocket")]))
    v = _values(store, db_url)
    assert v["sessions"] == 6
    assert v["messages_per_session"] == 40 / 6
    assert v["active_sessions"] == 6
    store.close()


def test_a_connect_after_another_connection_is_a_reconnect(db_url: str) -> None:
    """Two processes each send connect for one session: the later one is a reconnect."""
    store = Store(db_url)
    store.ingest(parse_events([_ev(1, "connection", "ws", action="connect")]))
    store.ingest(parse_events([_ev(2, "connection", "ws", action="disconnect")]))
    store.ingest(
        parse_events(
            [
                _ev(3, "connection", "ws", action="connect"),
                _ev(4, "connection", "other", action="connect"),
            ]
        )
    )
    v = _values(store, db_url)
    assert v["sessions"] == 2
    assert v["reconnection_rate"] == 50.0
    assert v["websocket_connections"] == 2
    cat = Catalogue(store, Settings(database_url=db_url, _env_file=None))  # type: ignore[call-arg]
    actions = cat.breakdown("connections_by_action", cat.reading("all"))
    assert actions == {"connect": 2.0, "disconnect": 1.0, "reconnect": 1.0}
    store.close()


def test_turn_only_rag_and_tokens_count_in_their_sections(db_url: str) -> None:
    """Guide 003-style turns (tokens, rag_used, no events of their own) agree across sections;
    a turn with its own LLM call and search counts those only."""
    store = Store(db_url)
    bare = [_ev(i, "turn", "g", response_time_ms=5.0, tokens=100, rag_used=True) for i in range(2)]
    own = [
        _ev(
            5,
            "llm_call",
            "g",
            run_id="r1",
            model="m",
            input_tokens=30,
            output_tokens=20,
            latency_ms=9.0,
        ),
        _ev(6, "rag_search", "g", run_id="r1", results=2, similarity=0.7),
        _ev(
            7,
            "turn",
            "g",
            run_id="r1",
            response_time_ms=5.0,
            tokens=50,
            rag_used=True,
            rag_found=True,
        ),
    ]
    store.ingest(parse_events(bare + own))
    v = _values(store, db_url)
    assert v["llm_tokens_used"] == 250 and v["llm_tokens"] == 250
    assert v["rag_queries"] == 3 and v["rag_searches"] == 3
    store.close()


def test_reconnects_do_not_depend_on_arrival_order(db_url: str) -> None:
    """The later connect arriving first (another process flushed sooner) is still the
    reconnect, once: the earliest connect of a session is its only connect."""
    store = Store(db_url)
    store.ingest(parse_events([_ev(5, "connection", "ws", action="connect")]))
    store.ingest(parse_events([_ev(1, "connection", "ws", action="connect")]))
    store.ingest(parse_events([_ev(9, "connection", "ws", action="connect")]))
    cat = Catalogue(store, Settings(database_url=db_url, _env_file=None))  # type: ignore[call-arg]
    reading = cat.reading("all")
    assert cat.breakdown("connections_by_action", reading) == {"connect": 1.0, "reconnect": 2.0}
    assert cat.value("reconnection_rate", reading) == 100.0
    store.close()


def test_the_fold_finds_stored_sessions_by_their_key(db_url: str) -> None:
    """What the fold reads of sessions already stored comes from the primary key, not a
    scan of the table, so folding costs the same however many sessions are stored."""
    store = Store(db_url)
    store.ingest(parse_events([_ev(i, "turn", f"k{i}", response_time_ms=10.0) for i in range(30)]))
    store.ingest(parse_events([_ev(40, "escalation", "k3", reason="asked")]))
    with store.write() as conn:
        service = conn.execute(text("SELECT service FROM sessions LIMIT 1")).scalar_one()
        keys = [(service, "k3"), (service, "k7"), (service, "absent"), ("other", "k3")]
        found = _stored_sessions(conn, keys)
        assert set(found) == {(service, "k3"), (service, "k7")}
        assert found[(service, "k3")][0] is not None  # escalated_at, as stored
        assert found[(service, "k7")][0] is None
        if conn.dialect.name == "sqlite":
            sql = _stored_sessions_sql("sqlite", 2)
            plan = [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", ("a",) * 4)]
            assert any("SEARCH s USING INDEX sqlite_autoindex_sessions_1" in p for p in plan), plan
            assert not any(p.startswith("SCAN s") and "CONSTANT" not in p for p in plan), plan
    store.close()
