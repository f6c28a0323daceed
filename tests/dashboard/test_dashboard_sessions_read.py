"""Store reads behind the dashboard's tables and session page, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chatwatch.events import parse_events
from chatwatch.store import Store
from chatwatch.store.sessions_read import read_escalation_reasons

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC).timestamp()


def _ev(n: int, type_: str, at: float, session: str, **fields: Any) -> dict[str, Any]:
    return {"id": f"e{session}-{n}", "type": type_, "ts": T0 + at, "session_id": session, **fields}


def _session(
    store: Store, sid: str, at: float, *, fail: bool = False, escalate: bool = False
) -> None:
    user = {"user_id": f"user-{sid}", "user_type": "customer"}
    evs = [
        _ev(0, "session_started", at, sid, **user),
        _ev(1, "llm_call", at + 2, sid, run_id=f"r{sid}", model="m", latency_ms=900.0, **user),
        _ev(
            2,
            "turn",
            at + 3,
            sid,
            run_id=f"r{sid}",
            response_time_ms=1200.0,
            success=not fail,
            error_type="TimeoutError" if fail else None,
            topic="billing",
            **user,
        ),
    ]
    if escalate:
        evs.append(_ev(3, "escalation", at + 4, sid, reason="complaint", **user))
    store.ingest(parse_events([{k: v for k, v in e.items() if v is not None} for e in evs]))


def test_recent_sessions_newest_first_within_window(store: Store) -> None:
    """Recent sessions are those last seen in the window, newest first, up to the limit."""
    for i in range(5):
        _session(store, f"s{i}", i * 60)
    rows = store.recent_sessions(T0 + 60, T0 + 230, limit=2)
    assert [r.session_id for r in rows] == ["s3", "s2"]
    assert rows[0].turns == 1 and rows[0].user_id == "user-s3"


def test_error_turns_and_escalated_sessions(store: Store) -> None:
    """Failed turns come with their error type; escalated sessions only those handed over."""
    _session(store, "ok", 0)
    _session(store, "bad", 60, fail=True)
    _session(store, "esc", 120, escalate=True)
    errors = store.error_turns(T0, T0 + 3600)
    assert [(e.session_id, e.error_type, e.topic) for e in errors] == [
        ("bad", "TimeoutError", "billing")
    ]
    escalated = store.escalated_sessions(T0, T0 + 3600)
    assert [s.session_id for s in escalated] == ["esc"]
    assert escalated[0].escalated_at == T0 + 124
    with store.read() as conn:
        reasons = read_escalation_reasons(conn, [("default", "esc"), ("default", "ok")])
    assert reasons == {("default", "esc"): "complaint"}


def test_session_events_in_time_order(store: Store) -> None:
    """A session's events come back in time order with their fields decoded."""
    _session(store, "a", 0, escalate=True)
    _session(store, "b", 30)
    found = store.session_events("default", "a")
    assert [e.type for e in found] == ["session_started", "llm_call", "turn", "escalation"]
    assert found[1].run_id == "ra" and found[1].data["model"] == "m"
    assert store.session("default", "a") is not None
    assert store.session("default", "missing") is None


def test_services_listed_from_rollups(store: Store) -> None:
    """Services with data are listed once each, sorted."""
    _session(store, "x", 0)
    event = _ev(0, "session_started", 10, "y")
    store.ingest(parse_events([{**event, "service": "billing-bot"}]))
    assert store.services() == ["billing-bot", "default"]
