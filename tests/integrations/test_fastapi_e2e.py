"""FastAPI under real uvicorn with the documented integration: every count exact.

The app is the README's: ``app.add_middleware(ChatwatchMiddleware, client=cw)``, a RAG
search and an LLM call attached to ``chatwatch.current_turn()`` in the handler, some
handlers opening ``cw.turn(...)`` too (it joins the middleware's turn), and a WebSocket
route recorded without a single chatwatch call in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException, WebSocket
from fastapi.responses import JSONResponse
from integ_servers import Chatwatch, Counts, surfaces
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

import chatwatch
from chatwatch import Client
from chatwatch.integrations.asgi import ChatwatchMiddleware
from live_server import LiveServer

pytestmark = pytest.mark.slow
TOKENS = (120, 30)


def build_app(cw: Client) -> FastAPI:
    app = FastAPI()

    @app.post("/chat")
    async def chat(body: dict[str, Any]) -> Any:
        turn = chatwatch.current_turn()
        assert turn is not None
        turn.rag_search(0.8, 0.9, 3, 15.0)
        turn.llm_call("gpt-4o-mini", *TOKENS, 40.0, provider="openai")
        if body.get("cached"):
            turn.cache_lookup(True)  # answered from the response cache
        mode = body.get("mode")
        if mode == "raise":
            raise RuntimeError("model down")
        if mode == "reject":
            return JSONResponse({"detail": "bad"}, status_code=400)
        if mode == "joined-reject":
            async with cw.turn(topic="billing"):
                raise HTTPException(400, "message too long")
        if mode == "joined":
            async with cw.turn(topic="billing") as inner:
                inner.set(cached=False)
        return {"answer": "hi"}

    @app.websocket("/chat/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            text = await websocket.receive_text()
            chatwatch.current_turn().llm_call("gpt-4o-mini", 10, 5, 20.0)  # type: ignore[union-attr]
            if text == "crash":
                raise RuntimeError("handler bug")
            if text == "bye":
                await websocket.close(code=4000)
                return
            await websocket.send_text("ok")

    app.add_middleware(ChatwatchMiddleware, client=cw, paths=("/chat",))
    return app


@pytest.fixture(scope="module")
def rag_app(chatwatch_server: Chatwatch) -> Iterator[tuple[LiveServer, Client]]:
    cw = Client(
        chatwatch_server.url, chatwatch_server.ingest_key, service="rag", flush_interval=0.05
    )
    server = LiveServer(build_app(cw)).start()  # type: ignore[arg-type]
    yield server, cw
    server.stop()
    cw.close()


MODES = ["raise"] * 3 + ["reject", "reject", "joined-reject", "joined-reject"] + ["joined"] * 5


def test_thirty_requests_count_exactly_everywhere(
    rag_app: tuple[LiveServer, Client], chatwatch_server: Chatwatch
) -> None:
    """30 requests (3 raise, 4 answer 400), each one RAG search and one LLM call: totals,
    failures, client errors, tokens and sessions agree on all three surfaces."""
    server, cw = rag_app
    # uvicorn closes a connection whose app raised: one connection per request
    with httpx.Client(base_url=server.url, timeout=30, headers={"connection": "close"}) as http:
        for i in range(30):
            mode = MODES[i] if i < len(MODES) else "plain"
            body = {"mode": mode, "cached": i >= 24}
            r = http.post("/chat", json=body, headers={"x-session-id": f"s{i % 6}"})
            assert r.status_code == {"raise": 500, "reject": 400, "joined-reject": 400}.get(
                mode, 200
            )
    assert cw.flush(10)
    per_turn = sum(TOKENS)
    assert surfaces(chatwatch_server, "rag") == Counts(
        turns=30,
        failed=3,
        client_errors=4,
        llm_calls=30,
        tokens=30 * per_turn,
        rag_searches=30,
        sessions=6,
        active_sessions=6,
    )
    doc = chatwatch_server.get("/monitoring/metrics", service="rag", window="all")
    assert doc["chat"]["successful_requests"] == 27
    assert doc["performance"]["error_rate"] == 10.0
    v = chatwatch_server.metrics(service="rag")
    assert v["successful_requests"] == 27 and v["error_rate"] == 10.0
    assert v["messages_per_session"] == 10.0
    # 6 answered from the cache (turn.cache_lookup), 5 said not (inner.set(cached=False))
    assert v["cache_hit_rate"] == pytest.approx(100 * 6 / 11)
    prom = chatwatch_server.prometheus("rag")
    assert prom[("chat_cached_responses_total", ())] == 6
    assert prom[("chat_cache_recorded_responses_total", ())] == 11
    assert prom[("chat_cache_lookups_total", (("kind", "response"),))] == 6
    assert prom[("chat_errors_total", (("error_type", "RuntimeError"),))] == 3
    assert prom[("chat_client_errors_total", (("status", "400"),))] == 4
    # every token came from the turns' own LLM calls: none counted again from the turn
    by_type: dict[str, float] = {}
    for (name, labels), value in prom.items():
        if name == "chat_llm_tokens_total":
            kind = dict(labels)["type"]
            by_type[kind] = by_type.get(kind, 0) + value
    assert by_type.pop("turn", 0) == 0
    assert by_type == {"input": 30 * TOKENS[0], "output": 30 * TOKENS[1]}


def test_websocket_route_records_its_life_without_calls(
    chatwatch_server: Chatwatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Connect, a drop, a reconnect, a crash (failed turn, connection closed out), a
    reconnect and close code 4000 (session ended): counts equal what the client did."""
    cw = Client(
        chatwatch_server.url, chatwatch_server.ingest_key, service="ws", flush_interval=0.05
    )
    server = LiveServer(build_app(cw)).start()  # type: ignore[arg-type]
    url = server.url.replace("http", "ws") + "/chat/ws?session_id=room-1"
    try:
        with connect(url) as ws:
            for text in ("hello", "again"):
                ws.send(text)
                assert ws.recv() == "ok"
            ws.socket.close()  # dropped without a close frame (1006): the session goes on
        with connect(url) as ws:
            ws.send("crash")
            with pytest.raises(ConnectionClosed):  # the server closes the connection (1011)
                ws.recv(timeout=10)
        with connect(url) as ws:
            ws.send("hi")
            assert ws.recv() == "ok"
            ws.send("bye")
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=10)
            assert ws.close_code == 4000
        assert cw.flush(10)
    finally:
        server.stop()
        cw.close()
    ws_tokens = 5 * (10 + 5)
    assert surfaces(chatwatch_server, "ws") == Counts(
        turns=5,
        failed=1,
        client_errors=0,
        llm_calls=5,
        tokens=ws_tokens,
        rag_searches=0,
        sessions=1,
        active_sessions=0,
    )
    v = chatwatch_server.metrics(service="ws")
    assert v["reconnection_rate"] == 100.0 and v["websocket_connections"] == 0
    doc = chatwatch_server.get("/api/v1/metrics", service="ws", window="all")
    actions = {"connect": 1.0, "disconnect": 3.0, "reconnect": 2.0}
    assert doc["breakdowns"]["connections_by_action"] == actions
    assert doc["breakdowns"]["errors_by_type"] == {"RuntimeError": 1.0}
    prom = chatwatch_server.prometheus("ws")
    assert {
        dict(labels)["action"]: value
        for (name, labels), value in prom.items()
        if name == "chat_websocket_events_total"
    } == actions
    assert prom[("chat_websocket_connections", ())] == 0
    assert prom[("chat_errors_total", (("error_type", "RuntimeError"),))] == 1


def test_one_document_agrees_with_itself(chatwatch_server: Chatwatch) -> None:
    """Two guide-003 POSTs with llm_tokens=100 and rag_used: 200 tokens and 2 searches in
    every section; a filter a metric cannot honour is said, not silently ignored."""
    key = {"Authorization": f"Bearer {chatwatch_server.ingest_key}"}
    params = {"success": "true", "response_time_ms": "500", "rag_used": "true"}
    with httpx.Client(base_url=chatwatch_server.url, headers=key) as http:
        for _ in range(2):
            r = http.post(
                "/monitoring/chat/metrics",
                params={**params, "llm_tokens": "100", "service": "guide"},
            )
            assert r.status_code == 200, r.text
    doc = chatwatch_server.get("/monitoring/metrics", service="guide", window="all")
    assert doc["chat"]["llm_tokens_used"] == 200 == doc["llm"]["total_tokens"]
    assert doc["chat"]["rag_queries"] == 2 == doc["rag"]["total_searches"]
    assert "ignored_filters" not in doc
    narrowed = chatwatch_server.get(
        "/monitoring/metrics", service="guide", window="all", channel="websocket"
    )
    assert "total_requests" in narrowed["ignored_filters"]["channel"]
    assert "sessions" not in narrowed["ignored_filters"]["channel"]
    summary = chatwatch_server.get(
        "/monitoring/stats/summary", service="guide", window="all", channel="websocket"
    )
    assert summary["total_requests"] == 2
    assert "total_requests" in summary["ignored_filters"]["channel"]
    plain = chatwatch_server.get("/monitoring/stats/summary", service="guide", window="all")
    assert "ignored_filters" not in plain and plain["llm_total_tokens"] == 200
    api = chatwatch_server.get("/api/v1/metrics", service="guide", channel="websocket")
    assert api["metrics"]["total_requests"]["ignored_filters"] == ["channel"]
    assert "ignored_filters" not in api["metrics"]["sessions"]
