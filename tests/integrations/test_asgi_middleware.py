"""The ASGI middleware in process (the real-server test is test_fastapi_e2e.py)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, HTTPException

import chatwatch
from chatwatch import CaptureTransport, Client
from chatwatch.integrations.asgi import ChatwatchMiddleware


def _app(client: Client) -> FastAPI:
    app = FastAPI()

    @app.post("/chat")
    async def chat() -> dict[str, str]:
        turn = chatwatch.current_turn()
        assert turn is not None
        turn.llm_call("m", 3, 4, 5.0)
        return {"answer": "hi"}

    @app.post("/chat/broken")
    async def broken() -> dict[str, str]:
        raise RuntimeError("model down")

    @app.post("/chat/refused")
    def refused() -> dict[str, str]:  # a sync handler: the turn is current in its thread
        with client.turn(session_id="s-2"):
            raise HTTPException(422, "bad input")

    @app.get("/other")
    async def other() -> dict[str, str]:
        assert chatwatch.current_turn() is None
        return {}

    app.add_middleware(ChatwatchMiddleware, client=client, paths=("/chat",))
    return app


@pytest.mark.anyio
async def test_records_success_failure_client_error_and_skips_other_paths() -> None:
    """200: a turn with its LLM tokens; exception: failed; 4xx in cw.turn: one successful
    turn with status 422; other paths: nothing."""
    capture = CaptureTransport()
    client = Client(transport=capture, service="web")
    transport = httpx.ASGITransport(app=_app(client), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        ok = await http.post("/chat", headers={"x-session-id": "s-1", "x-user-id": "u-9"})
        assert ok.status_code == 200
        assert (await http.post("/chat/broken")).status_code == 500
        assert (await http.post("/chat/refused")).status_code == 422
        await http.get("/other")
    assert client.flush(5)
    turns = [e for e in capture.events if e["type"] == "turn"]
    good, bad, refused = turns
    assert good.get("success", True) and good["session_id"] == "s-1" and good["user_id"] == "u-9"
    assert good["tokens"] == 7 and good["status_code"] == 200
    assert bad["success"] is False and bad["error_type"] == "RuntimeError"
    assert refused.get("success", True) and refused["status_code"] == 422
    assert refused["session_id"] == "s-2"
    client.close()


def test_needs_a_path() -> None:
    """An empty path list is refused at construction."""
    with pytest.raises(ValueError, match="paths"):
        ChatwatchMiddleware(
            _app(Client(transport=CaptureTransport())),
            Client(transport=CaptureTransport()),
            paths=(),
        )


@pytest.mark.anyio
async def test_cors_preflights_and_neighbouring_paths_are_not_turns() -> None:
    """Behind CORS (added first, so inside), a browser's OPTIONS preflight before each POST
    is no turn; nor is /chatbot-config beside /chat; /chat/... still is."""
    from fastapi.middleware.cors import CORSMiddleware

    capture = CaptureTransport()
    client = Client(transport=capture, heartbeat_interval=None)
    app = FastAPI()

    @app.post("/chat")
    async def chat() -> dict[str, str]:
        return {"answer": "hi"}

    @app.post("/chat/stream")
    async def stream() -> dict[str, str]:
        return {"answer": "hi"}

    @app.get("/chatbot-config")
    async def config() -> dict[str, str]:
        return {}

    origin = "https://ui.example"
    app.add_middleware(CORSMiddleware, allow_origins=[origin], allow_methods=["*"])
    app.add_middleware(ChatwatchMiddleware, client=client, paths=("/chat",))
    preflight = {"Origin": origin, "Access-Control-Request-Method": "POST"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://app", follow_redirects=True
    ) as http:
        for path in ("/chat", "/chat/stream"):
            assert (await http.options(path, headers=preflight)).status_code == 200
            assert (await http.post(path, headers={"Origin": origin})).status_code == 200
        assert (await http.head("/chat")).status_code == 405
        assert (await http.get("/chatbot-config")).status_code == 200
        # a trailing slash: Starlette redirects (307) and the client posts again
        slashed = await http.post("/chat/stream/", headers={"Origin": origin})
        assert [r.status_code for r in slashed.history] == [307]
        assert slashed.status_code == 200
    assert client.flush(5)
    routes = [e["attributes"]["route"] for e in capture.events if e["type"] == "turn"]
    assert routes == ["/chat", "/chat/stream", "/chat/stream"]
    client.close()
