"""The overview's tables: recent, failed and escalated sessions, top users, alerts.

Rows are plain JSON; what users typed (ids, topics, reasons) stays data and is only
ever put into the page as text (``static/dashboard.js`` uses ``textContent``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from chatwatch.dashboard.alerts_view import alerts_table
from chatwatch.metrics import Catalogue, Reading
from chatwatch.store.sessions_read import ErrorTurn, SessionRow, read_escalation_reasons

__all__ = ["ROWS", "build_tables", "run_href", "session_href", "user_sessions_href"]

ROWS = 15


def session_href(base: str, service: str, session_id: str) -> str:
    return f"{base}/session?{urlencode({'service': service, 'id': session_id})}"


def run_href(base: str, run_id: str) -> str:
    return f"{base}/r/{quote(run_id, safe='')}"


def user_sessions_href(base: str, user_id: str) -> str:
    return f"{base}/sessions?{urlencode({'user_id': user_id})}"


def _session(base: str, s: SessionRow) -> dict[str, Any]:
    return {
        "service": s.service,
        "session_id": s.session_id,
        "user_id": s.user_id,
        "user_type": s.user_type,
        "channel": s.channel,
        "started_at": s.started_at,
        "ended_at": s.ended_at,
        "last_seen": s.last_seen,
        "turns": s.turns,
        "errors": s.errors,
        "messages": s.messages,
        "reconnects": s.reconnects,
        "ratings": s.rating_n,
        "escalated_at": s.escalated_at,
        "href": session_href(base, s.service, s.session_id),
    }


def _error(base: str, e: ErrorTurn) -> dict[str, Any]:
    return {
        "ts": e.ts,
        "service": e.service,
        "session_id": e.session_id,
        "user_id": e.user_id,
        "run_id": e.run_id,
        "error_type": e.error_type,
        "topic": e.topic,
        "model": e.model,
        "response_time_ms": e.response_time_ms,
        # the run opened inside its session, highlighted (or the session, if no run id)
        "href": run_href(base, e.run_id)
        if e.run_id
        else session_href(base, e.service, e.session_id),
    }


def build_tables(cat: Catalogue, reading: Reading, base: str) -> dict[str, Any]:
    store, w = cat.store, reading.window
    service = reading.filters.service
    recent = store.recent_sessions(w.start, w.end, service, ROWS)
    errors = store.error_turns(w.start, w.end, service, ROWS)
    escalated = store.escalated_sessions(w.start, w.end, service, ROWS)
    escalated.sort(key=lambda s: s.escalated_at or 0.0, reverse=True)  # when it escalated
    with store.read() as conn:
        reasons = read_escalation_reasons(conn, [(s.service, s.session_id) for s in escalated])
    users = cat.breakdown("top_users", reading)
    return {
        "recent_sessions": [_session(base, s) for s in recent],
        "error_turns": [_error(base, e) for e in errors],
        "escalated_sessions": [
            {**_session(base, s), "reason": reasons.get((s.service, s.session_id))}
            for s in escalated
        ],
        "top_users": [
            {"user_id": u, "messages": n, "href": user_sessions_href(base, u)}
            for u, n in users.items()
        ],
        "alerts": alerts_table(store, service),
    }
