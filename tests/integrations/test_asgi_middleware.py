"""The ASGI middleware records one turn per chat request."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from chatwatch import CaptureTransport, Client
from chatwatch.events import parse_events
from chatwatch.integrations.asgi import ChatwatchMiddleware


def _app(client: Client) -> FastAPI:
    app = FastAPI()

    @app.post("/chat")
    async def chat() -> dict[str, str]:
        return {"answer": "hi"}

    @app.post("/chat/broken")
    async def broken() -> dict[str, str]:
        raise RuntimeError("model down")

    @app.get("/other")
    async def other() -> dict[str, str]:
        return {}

    app.add_middleware(ChatwatchMiddleware, client=client, paths=("/chat",))
    return app


@pytest.mark.anyio
async def test_records_success_failure_and_skips_other_paths() -> None:
    """A 200 is a successful turn, an exception a failed one with its type, other paths nothing."""
    capture = CaptureTransport()
    client = Client(transport=capture, service="web")
    transport = httpx.ASGITransport(app=_app(client), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        ok = await http.post("/chat", headers={"x-session-id": "s-1", "x-user-id": "u-9"})
        assert ok.status_code == 200
        failed = await http.post("/chat/broken")
        assert failed.status_code == 500
        await http.get("/other")
    client.flush()
    turns = parse_events(capture.events)
    assert [t.type for t in turns] == ["turn", "turn"]
    good, bad = turns
    assert good.success and good.session_id == "s-1" and good.user_id == "u-9"
    assert good.service == "web" and good.response_time_ms >= 0
    assert not bad.success and bad.error_type == "RuntimeError"
    client.close()


def test_needs_a_path() -> None:
    """An empty path list is refused at construction."""
    with pytest.raises(ValueError, match="paths"):
        ChatwatchMiddleware(
            _app(Client(transport=CaptureTransport())),
            Client(transport=CaptureTransport()),
            paths=(),
        )
