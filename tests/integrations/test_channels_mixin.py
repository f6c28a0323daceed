"""The Channels consumer mixin, on a stand-in consumer (the real one runs under daphne in
test_django_channels_e2e.py): what it sends for each step of a connection's life."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

import chatwatch
from chatwatch import CaptureTransport, Client
from chatwatch.integrations.channels import ChatwatchConsumerMixin


class FakeConsumer:
    """Stands in for channels' AsyncWebsocketConsumer: dispatch methods and accept/close."""

    def __init__(self, session_id: str, user: Any = None) -> None:
        self.scope: dict[str, Any] = {
            "url_route": {"kwargs": {"session_id": session_id}},
            "user": user,
        }
        self.channel_name = "specific.abc"
        self.calls: list[str] = []

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        await self.accept()  # type: ignore[attr-defined]

    async def accept(self, subprotocol: str | None = None) -> None:
        self.calls.append("accept")

    async def close(self, code: int | None = None) -> None:
        self.calls.append(f"close:{code}")

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        assert chatwatch.current_turn() is not None
        if message.get("text") == "crash":
            raise RuntimeError("bug")

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        self.calls.append("disconnect")


@pytest.mark.anyio
async def test_connection_life_and_a_crash() -> None:
    """Start+connect, a turn, a crash (failed turn, closed out with 1011, re-raised), then
    a fresh connection closed with 4000 ends the session; the user is on every event."""
    capture = CaptureTransport()
    client = Client(transport=capture)
    user = SimpleNamespace(is_authenticated=True, pk=7, is_staff=False, user_type="premium")

    class Consumer(ChatwatchConsumerMixin, FakeConsumer):
        chatwatch_client = client

    first = Consumer("room-1", user)
    await first.websocket_connect({})
    await first.websocket_receive({"text": "hi"})
    with pytest.raises(RuntimeError):
        await first.websocket_receive({"text": "crash"})
    await first.websocket_disconnect({"code": 1011})  # after the close-out: nothing more
    again = Consumer("room-1", user)
    await again.websocket_connect({})
    await again.websocket_disconnect({"code": 4000})
    assert client.flush(5)
    events = capture.events
    kinds = [(e["type"], e.get("action"), e.get("success", True)) for e in events]
    assert kinds == [
        ("session_started", None, True),
        ("connection", "connect", True),
        ("turn", None, True),
        ("turn", None, False),
        ("connection", "disconnect", True),
        ("session_started", None, True),
        ("connection", "connect", True),
        ("connection", "disconnect", True),
        ("session_ended", None, True),
    ]
    assert first.calls == ["accept", "close:1011", "disconnect"]
    assert {(e["session_id"], e["user_id"], e["user_type"]) for e in events} == {
        ("room-1", "7", "premium")
    }
    client.close()
