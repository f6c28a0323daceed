"""Django 5 + Channels under two real daphne processes, set up as the README says: every
count equals what the WebSocket clients did, whichever process served them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from integ_servers import (
    Chatwatch,
    Counts,
    Process,
    daphne,
    django_env,
    setup_django,
    surfaces,
    wait_for,
)
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

pytestmark = pytest.mark.slow


@dataclass
class Site:
    a: Process
    b: Process
    cookie: str
    user_pk: str


@pytest.fixture(scope="module")
def site(chatwatch_server: Chatwatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("django")
    env = django_env(tmp, chatwatch_server)
    cookie, pk = setup_django(env)
    a, b = daphne(env, tmp / "a.log"), daphne(env, tmp / "b.log")
    try:
        yield Site(a.wait(), b.wait(), cookie, pk)
    finally:
        a.stop()
        b.stop()


def _ws(process: Process, session: str, cookie: str | None) -> ClientConnection:
    url = process.url.replace("http", "ws") + f"/ws/chat/{session}/"
    headers = {"Cookie": f"sessionid={cookie}"} if cookie else None
    return connect(url, additional_headers=headers, open_timeout=20)


def _talk(ws: ClientConnection, text: str) -> None:
    ws.send(text)
    assert ws.recv(timeout=20) == "ok"


def _closed_by_server(ws: ClientConnection, text: str) -> int | None:
    ws.send(text)
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=20)
    return ws.close_code


def test_two_processes_a_reconnect_a_crash_and_close_4000(
    site: Site, chatwatch_server: Chatwatch
) -> None:
    """A drop on A and a reconnect on B is one session reconnecting; a crash in receive is
    a failed turn and closes the connection out; close code 4000 ends the session; the
    logged-in user is on every event of the connection."""
    with _ws(site.a, "room-7", site.cookie) as ws:
        _talk(ws, "hello")
        ws.socket.close()  # dropped: no close frame, the client will come back
    with _ws(site.b, "room-7", site.cookie) as ws:
        assert _closed_by_server(ws, "crash") == 1011
    with _ws(site.a, "room-7", site.cookie) as ws:
        _talk(ws, "hi")
        assert _closed_by_server(ws, "bye") == 4000
    with _ws(site.b, "room-8", None) as ws:
        _talk(ws, "anonymous")
    expected = {
        "total_requests": 5.0,
        "failed_requests": 1.0,
        "sessions": 2.0,
        "reconnection_rate": 50.0,
        "active_sessions": 0.0,
        "websocket_connections": 0.0,
        "llm_calls": 5.0,
    }

    def settled() -> bool:
        v = chatwatch_server.metrics(service="sophie")
        return all(v[k] == want for k, want in expected.items())

    assert wait_for(settled), chatwatch_server.metrics(service="sophie")
    assert surfaces(chatwatch_server, "sophie") == Counts(
        turns=5,
        failed=1,
        client_errors=0,
        llm_calls=5,
        tokens=5 * (10 + 5),
        rag_searches=0,
        sessions=2,
        active_sessions=0,
    )
    v = chatwatch_server.metrics(service="sophie")
    assert {k: v[k] for k in expected} == expected
    doc = chatwatch_server.get("/api/v1/metrics", service="sophie", window="all")
    assert doc["breakdowns"]["connections_by_action"] == {
        "connect": 2.0,
        "disconnect": 4.0,
        "reconnect": 2.0,
    }
    assert doc["breakdowns"]["errors_by_type"] == {"RuntimeError": 1.0}
    with sqlite3.connect(chatwatch_server.db_path) as db:
        rows = db.execute(
            "SELECT session_id, user_id, data FROM events WHERE service = 'sophie'"
        ).fetchall()
    who = {(sid, uid, json.loads(data).get("user_type")) for sid, uid, data in rows}
    assert who == {("room-7", site.user_pk, "user"), ("room-8", None, "anonymous")}
    ended = [json.loads(d).get("reason") for s, _, d in rows if s == "room-7"]
    assert [r for r in ended if r] == ["closed:4000"]  # not the drop, not the crash


def test_http_view_through_the_asgi_line(site: Site, chatwatch_server: Chatwatch) -> None:
    """The one line in asgi.py records Django views as turns, with their LLM calls."""
    with httpx.Client(base_url=site.b.url, timeout=20) as http:
        for _ in range(3):
            r = http.post("/chat/api/ask/", json={"message": "hi"}, headers={"x-session-id": "h1"})
            assert r.status_code == 200
        assert http.get("/chat/api/missing/").status_code == 404

    def settled() -> bool:
        v = chatwatch_server.metrics(service="sophie")
        return v["client_errors"] == 1.0

    assert wait_for(settled)
    # on top of the WebSocket test's: 3 answered views (one session, still active) and a 404
    assert surfaces(chatwatch_server, "sophie") == Counts(
        turns=5 + 4,
        failed=1,
        client_errors=1,
        llm_calls=5 + 3,
        tokens=5 * 15 + 3 * 30,
        rag_searches=0,
        sessions=2 + 1,
        active_sessions=1,
    )
    prom = chatwatch_server.prometheus("sophie")
    assert prom[("chat_client_errors_total", (("status", "404"),))] == 1
