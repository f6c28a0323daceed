"""One session, or one run, as a JSON document: the stored events grouped by turn.

The read API returns these and the dashboard's session page offers them as a download.
Only stored fields appear (no figure is computed here); an event is its stored fields
plus ``id``, ``type``, ``ts`` (Unix seconds, as ingest takes them) and ``time`` (ISO 8601).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from chatwatch.store import Store
from chatwatch.store.session_query import find_session, read_run_events
from chatwatch.store.sessions_read import SessionRow, StoredEvent

__all__ = ["event_doc", "run_doc", "session_doc", "session_path", "session_row_doc"]

_KINDS = {
    "llm_call": "llm_calls",
    "rag_search": "rag_searches",
    "cache_lookup": "cache_lookups",
    "feedback": "feedback",
    "escalation": "escalations",
}


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def session_path(service: str, session_id: str) -> str:
    return f"/api/v1/sessions/{quote(session_id, safe='')}?{urlencode({'service': service})}"


def event_doc(e: StoredEvent) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": e.id, "type": e.type, "ts": e.ts, "time": _iso(e.ts)}
    if e.user_id is not None:
        doc["user_id"] = e.user_id
    doc.update(e.data)
    return doc


def session_row_doc(row: SessionRow, first_seen: float | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "service": row.service,
        "session_id": row.session_id,
        "user_id": row.user_id,
        "user_type": row.user_type,
        "channel": row.channel,
        "started_at": _iso(row.started_at),
        "ended_at": _iso(row.ended_at),
        "last_seen": _iso(row.last_seen),
        "turns": row.turns,
        "errors": row.errors,
        "messages": row.messages,
        "reconnects": row.reconnects,
        "escalated_at": _iso(row.escalated_at),
        "ratings": row.rating_n,
        "rating_sum": row.rating_sum,
    }
    if first_seen is not None:
        doc["first_seen"] = _iso(first_seen)
    doc["url"] = session_path(row.service, row.session_id)
    return doc


def _empty_turn(run_id: str) -> dict[str, Any]:
    return {"run_id": run_id, "turn": None, **{kind: [] for kind in dict.fromkeys(_KINDS.values())}}


def _group(found: list[StoredEvent]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Turns (in time order, each with what ran inside it) and the rest: the session log."""
    runs: dict[str, dict[str, Any]] = {}
    log: list[dict[str, Any]] = []
    for e in found:
        if e.type == "turn":
            run = e.run_id or e.id
            runs.setdefault(run, _empty_turn(run))["turn"] = event_doc(e)
    for e in found:
        if e.type == "turn":
            continue
        kind = _KINDS.get(e.type)
        if e.run_id is None or kind is None:
            log.append(event_doc(e))
            continue
        runs.setdefault(e.run_id, _empty_turn(e.run_id))[kind].append(event_doc(e))

    def start(run: dict[str, Any]) -> tuple[float, str]:
        docs = [run["turn"]] if run["turn"] else []
        docs += [d for kind in _KINDS.values() for d in run[kind]]
        return (min((d["ts"] for d in docs), default=0.0), run["run_id"])

    return sorted(runs.values(), key=start), log


def session_doc(store: Store, service: str, session_id: str) -> dict[str, Any] | None:
    row = store.session(service, session_id)
    found = store.session_events(service, session_id)
    if row is None and not found:
        return None
    turns, log = _group(found)
    return {
        "service": service,
        "session_id": session_id,
        "session": None if row is None else session_row_doc(row),
        "events": len(found),
        "turns": turns,
        "feedback": [event_doc(e) for e in found if e.type == "feedback"],
        "escalations": [event_doc(e) for e in found if e.type == "escalation"],
        "log": log,
    }


def run_doc(store: Store, run_id: str) -> dict[str, Any] | None:
    with store.settled() as conn:
        found = read_run_events(conn, run_id)
    if not found:
        return None
    turns, _log = _group(found)
    run = turns[0] if turns else _empty_turn(run_id)
    first = found[0]
    doc: dict[str, Any] = {"run_id": run_id, "service": first.service}
    doc["session_id"] = first.session_id
    doc.update(run)
    doc["session_url"] = (
        None if first.session_id is None else session_path(first.service, first.session_id)
    )
    return doc


def locate_session(store: Store, session_id: str, service: str | None) -> list[str]:
    with store.settled() as conn:
        return find_session(conn, session_id, service)
