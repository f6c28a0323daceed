"""The Channels consumer mixin records a WebSocket session's life."""

from __future__ import annotations

from typing import Any

import pytest

from chatwatch import CaptureTransport, Client
from chatwatch.events import parse_events
from chatwatch.integrations.channels import ChatwatchConsumerMixin


class FakeConsumer:
    """Stands in for channels' AsyncWebsocketConsumer: records what reached it."""

    def __init__(self, session_id: str) -> None:
        self.scope: dict[str, Any] = {"url_route": {"kwargs": {"session_id": session_id}}}
        self.channel_name = "specific.abc"
        self.calls: list[str] = []

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        self.calls.append("connect")

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        self.calls.append("disconnect")


@pytest.mark.anyio
async def test_connect_drop_reconnect_close() -> None:
    """Start+connect, an abnormal drop, a reconnect, then a normal close ending the session."""
    capture = CaptureTransport()
    client = Client(transport=capture)

    class Consumer(ChatwatchConsumerMixin, FakeConsumer):
        chatwatch_client = client

    first = Consumer("room-1")
    await first.websocket_connect({})
    await first.websocket_disconnect({"code": 1006})
    again = Consumer("room-1")
    await again.websocket_connect({})
    await again.websocket_disconnect({"code": 1000})
    client.flush()
    events = parse_events(capture.events)
    kinds = [(e.type, getattr(e, "action", None)) for e in events]
    assert kinds == [
        ("session_started", None),
        ("connection", "connect"),
        ("connection", "disconnect"),
        ("connection", "reconnect"),
        ("connection", "disconnect"),
        ("session_ended", None),
    ]
    assert {e.session_id for e in events} == {"room-1"}
    assert first.calls == ["connect", "disconnect"] and again.calls == ["connect", "disconnect"]
    assert events[0].user_type == "anonymous"
    client.close()
