"""The read API: sessions by filters and cursor, one session, one run; exact against
the events sent, and paging that never skips or repeats while new events arrive."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chatwatch.config import Settings
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from data_workload import D2, DAY2, post, workload
from live_server import LiveServer

EVENTS = workload()


def _sessions() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for e in EVENTS:
        s = out.setdefault(
            e["session_id"], {"errors": 0, "topics": set(), "ratings": [], "escalated": False, **e}
        )
        if e["type"] == "turn":
            s["errors"] += not e["success"]
            s["topics"].add(e["topic"])
        if e["type"] == "feedback":
            s["ratings"].append(e["rating"])
        s["escalated"] |= e["type"] == "escalation"
    return out


SESSIONS = _sessions()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'cw.db'}"
    # the workload is dated March 2025: past the 30 days an HTTP batch may reach back
    app = create_app(
        Settings(database_url=url, alerts_enabled=False, event_retention_days=3650, _env_file=None)
    )  # type: ignore[call-arg]
    live = LiveServer(app).start()
    store = app.state.chatwatch.store
    post(live.url, create_key(store, "ingest"), EVENTS)
    client = httpx.Client(
        base_url=live.url, headers={"Authorization": f"Bearer {create_key(store, 'read')}"}
    )
    yield {"client": client, "url": live.url, "ingest": create_key(store, "ingest")}
    client.close()
    live.stop()
    store.close()


def _ids(client: httpx.Client, **params: Any) -> list[str]:
    response = client.get("/api/v1/sessions", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    return [s["session_id"] for s in response.json()["sessions"]]


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({}, lambda s: True),
        ({"service": "svc-b"}, lambda s: s["service"] == "svc-b"),
        ({"user_id": "user-2"}, lambda s: s["user_id"] == "user-2"),
        ({"user_type": "premium"}, lambda s: s["user_type"] == "premium"),
        ({"topic": "returns"}, lambda s: "returns" in s["topics"]),
        ({"has_error": "true"}, lambda s: s["errors"] > 0),
        ({"has_error": "false"}, lambda s: s["errors"] == 0),
        ({"escalated": "true"}, lambda s: s["escalated"]),
        ({"rated": "true"}, lambda s: bool(s["ratings"])),
        ({"rated": "false"}, lambda s: not s["ratings"]),
        ({"max_rating": 2}, lambda s: bool(s["ratings"]) and max(s["ratings"]) <= 2),
        ({"min_rating": 4}, lambda s: bool(s["ratings"]) and min(s["ratings"]) >= 4),
        ({"q": "sess-05"}, lambda s: s["session_id"] == "sess-05"),
        ({"q": "user-4"}, lambda s: s["user_id"] == "user-4"),
        ({"since": f"{D2}T00:00:00Z"}, lambda s: s["ts"] >= DAY2 - 8 * 3600),
        ({"until": f"{D2}T00:00:00Z"}, lambda s: s["ts"] < DAY2 - 8 * 3600),
        (
            {"service": "svc-a", "has_error": "true", "escalated": "false"},
            lambda s: s["service"] == "svc-a" and s["errors"] > 0 and not s["escalated"],
        ),
    ],
)
def test_filters_keep_exactly_the_matching_sessions(
    api: dict[str, Any], params: dict[str, Any], keep: Any
) -> None:
    """Each filter keeps exactly the sessions that match it, newest first by default."""
    found = _ids(api["client"], **params)
    expected = sorted((sid for sid, s in SESSIONS.items() if keep(s)), reverse=True)
    assert expected
    assert found == expected  # sess-NN started in id order


def test_sorts_and_row_fields(api: dict[str, Any]) -> None:
    """Oldest first reverses the order; each row carries its counts and its own URL."""
    client = api["client"]
    assert _ids(client, sort="first_seen") == sorted(SESSIONS)
    assert _ids(client, sort="-last_seen") == sorted(SESSIONS, reverse=True)
    row = client.get("/api/v1/sessions", params={"q": "sess-04"}).json()["sessions"][0]
    s = SESSIONS["sess-04"]
    assert (row["turns"], row["errors"], row["ratings"]) == (3, s["errors"], len(s["ratings"]))
    assert row["url"] == "/api/v1/sessions/sess-04?service=svc-a"
    assert client.get(row["url"]).json()["session_id"] == "sess-04"


def test_session_document_groups_every_event_by_turn(api: dict[str, Any]) -> None:
    """A session's turns each hold their LLM call, RAG search and feedback; the rest
    (start, connection, escalation, end) is its log; nothing is lost."""
    doc = api["client"].get("/api/v1/sessions/sess-04", params={"service": "svc-a"}).json()
    sent = [e for e in EVENTS if e["session_id"] == "sess-04"]
    assert doc["events"] == len(sent)
    assert [t["run_id"] for t in doc["turns"]] == ["run-04-0", "run-04-1", "run-04-2"]
    for t in doc["turns"]:
        assert t["turn"]["run_id"] == t["run_id"]
        assert [c["model"] for c in t["llm_calls"]] == [t["turn"]["model"]]
        assert len(t["rag_searches"]) == 1
    assert [f["rating"] for f in doc["turns"][1]["feedback"]] == [5]
    assert [e["type"] for e in doc["log"]] == ["session_started", "connection", "session_ended"]
    assert doc["session"]["user_id"] == "user-4"
    doc = api["client"].get("/api/v1/sessions/sess-01").json()  # service found alone
    assert [e["reason"] for e in doc["escalations"]] == ["asked for a human"]


def test_cache_lookups_escalation_and_connections_in_the_document(api: dict[str, Any]) -> None:
    """A session recorded now: each turn holds its cache lookups (a hit, or a miss then
    its call), its feedback and an escalation made in it; connections and messages are
    the log, in time order; the run document holds the same lookups."""
    now = time.time() - 60
    who = {"service": "svc-c", "session_id": "cache-sess", "user_id": "cache-user"}

    def ev(n: int, type_: str, **fields: Any) -> dict[str, Any]:
        return {"id": f"cache-{n}", "type": type_, "ts": now + n, **who, **fields}

    sent = [
        ev(0, "connection", action="connect"),
        ev(1, "cache_lookup", run_id="c-run-1", hit=True),
        ev(2, "turn", run_id="c-run-1", response_time_ms=40.0, cached=True),
        ev(3, "message", sender_type="user"),
        ev(4, "cache_lookup", run_id="c-run-2", hit=False, kind="semantic"),
        ev(5, "llm_call", run_id="c-run-2", model="gpt-4o-mini", latency_ms=900.0),
        ev(6, "turn", run_id="c-run-2", response_time_ms=1000.0, cached=False),
        ev(7, "feedback", run_id="c-run-2", thumbs="down"),
        ev(8, "escalation", run_id="c-run-2", reason="wrong answer"),
        ev(9, "connection", action="disconnect"),
    ]
    post(api["url"], api["ingest"], sent)
    doc = api["client"].get("/api/v1/sessions/cache-sess").json()
    assert doc["events"] == len(sent)
    first, second = doc["turns"]
    assert [(c["hit"], c["kind"]) for c in first["cache_lookups"]] == [(True, "response")]
    assert first["llm_calls"] == [] and first["turn"]["cached"] is True
    assert [(c["hit"], c["kind"]) for c in second["cache_lookups"]] == [(False, "semantic")]
    assert [c["id"] for c in second["llm_calls"]] == ["cache-5"]
    assert [f["thumbs"] for f in second["feedback"]] == ["down"]
    assert [e["reason"] for e in second["escalations"]] == ["wrong answer"]
    assert [e["id"] for e in doc["log"]] == ["cache-0", "cache-3", "cache-9"]
    run = api["client"].get("/api/v1/runs/c-run-2").json()
    assert [c["id"] for c in run["cache_lookups"]] == ["cache-4"]


def test_run_document_and_errors(api: dict[str, Any]) -> None:
    """A run holds its turn and calls with its session's URL; unknown ids are 404, a bad
    cursor 422, no key 401 and an ingest key 403."""
    client = api["client"]
    run = client.get("/api/v1/runs/run-07-2").json()
    sent = [e for e in EVENTS if e.get("run_id") == "run-07-2"]
    assert run["session_id"] == "sess-07" and run["service"] == "svc-a"
    assert run["turn"]["id"] == "sess-07-turn2"
    assert [c["id"] for c in run["llm_calls"] + run["rag_searches"]] == [
        e["id"] for e in sent if e["type"] in ("llm_call", "rag_search")
    ][::-1]
    assert client.get(run["session_url"]).status_code == 200
    assert client.get("/api/v1/runs/nope").status_code == 404
    assert client.get("/api/v1/sessions/nope").status_code == 404
    bad = client.get("/api/v1/sessions", params={"cursor": "garbage"})
    assert bad.status_code == 422 and "cursor" in bad.text
    assert httpx.get(f"{api['url']}/api/v1/sessions").status_code == 401
    ingest = {"Authorization": f"Bearer {api['ingest']}"}
    for path in ("/api/v1/sessions", "/api/v1/sessions/sess-01", "/api/v1/runs/run-07-2"):
        assert httpx.get(f"{api['url']}{path}", headers=ingest).status_code == 403


def test_read_routes_are_in_the_openapi_document(api: dict[str, Any]) -> None:
    """The OpenAPI document lists the three routes with their parameters."""
    doc = api["client"].get("/openapi.json").json()
    params = {p["name"] for p in doc["paths"]["/api/v1/sessions"]["get"]["parameters"]}
    assert {"service", "user_id", "topic", "has_error", "escalated", "cursor", "sort"} <= params
    assert "/api/v1/sessions/{session_id}" in doc["paths"]
    assert "/api/v1/runs/{run_id}" in doc["paths"]


def _event(sid: str, n: int, ts: float) -> dict[str, Any]:
    return {
        "id": f"{sid}-live-{n}",
        "type": "turn",
        "ts": ts,
        "service": "live",
        "session_id": sid,
        "response_time_ms": 100.0,
    }


def test_paging_never_skips_or_repeats_while_events_arrive(live: LiveServer, db_url: str) -> None:
    """While a sender adds turns to existing sessions and opens new ones, walking the
    pages (3 rows each, both sorts by first_seen) lists every session that existed
    when paging began exactly once."""
    store = live.app.state.chatwatch.store
    ingest = create_key(store, "ingest")
    now = time.time()
    existing = [f"s{n:03d}" for n in range(40)]
    post(live.url, ingest, [_event(sid, 0, now - 3600 + i) for i, sid in enumerate(existing)])
    stop = threading.Event()

    def sender() -> None:
        n = 1
        while not stop.is_set():
            batch = [_event(existing[(n * 7 + k) % 40], n, time.time()) for k in range(5)]
            batch.append(_event(f"new-{n:04d}", 0, time.time()))
            post(live.url, ingest, batch)
            n += 1
            time.sleep(0.05)

    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    headers = {"Authorization": f"Bearer {create_key(store, 'read')}"}
    try:
        for sort in ("-first_seen", "first_seen"):
            seen: list[str] = []
            cursor = None
            for _ in range(1000):
                params = {"limit": 3, "sort": sort, **({"cursor": cursor} if cursor else {})}
                page = httpx.get(f"{live.url}/api/v1/sessions", params=params, headers=headers)
                assert page.status_code == 200, page.text
                body = page.json()
                seen += [s["session_id"] for s in body["sessions"]]
                cursor = body["next_cursor"]
                if cursor is None:
                    break
                time.sleep(0.01)
            old = [sid for sid in seen if not sid.startswith("new-")]
            assert len(old) == len(set(old)) == 40
            assert len(seen) == len(set(seen))
            assert old == (sorted(existing, reverse=True) if sort[0] == "-" else existing)
    finally:
        stop.set()
        thread.join(5)
