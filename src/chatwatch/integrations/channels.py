"""Django Channels: record a consumer's WebSocket life without touching its logic.

Mix ``ChatwatchConsumerMixin`` in before ``AsyncWebsocketConsumer`` and set
``chatwatch_client``. ``websocket.connect`` records the session start (first time) and
a connect; ``websocket.disconnect`` a disconnect, and a session end when the close code
is a normal one (1000/1001); a client that connects again with the same session id is
counted as a reconnect. The session id comes from ``chatwatch_session_id()`` (default:
the ``session_id`` URL kwarg, else the channel name).
"""

from __future__ import annotations

from typing import Any

from chatwatch.sdk import Client

__all__ = ["ChatwatchConsumerMixin"]

_NORMAL_CLOSE = {1000, 1001}
_MAX_REMEMBERED = 100_000


class ChatwatchConsumerMixin:
    chatwatch_client: Client | None = None
    scope: dict[str, Any]
    channel_name: str
    _chatwatch_seen: set[str] = set()

    def chatwatch_session_id(self) -> str:
        kwargs = self.scope.get("url_route", {}).get("kwargs", {})
        return str(kwargs.get("session_id") or self.channel_name)

    def _chatwatch_user(self) -> dict[str, Any]:
        user = self.scope.get("user")
        if user is None or not getattr(user, "is_authenticated", False):
            return {"user_type": "anonymous"}
        return {"user_id": str(user.pk), "user_type": getattr(user, "user_type", None) or "user"}

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        client = self.chatwatch_client
        if client is not None:
            sid = self.chatwatch_session_id()
            who = self._chatwatch_user()
            if sid in self._chatwatch_seen:
                client.reconnect(sid, **who)
            else:
                if len(self._chatwatch_seen) > _MAX_REMEMBERED:
                    self._chatwatch_seen.clear()
                self._chatwatch_seen.add(sid)
                client.session_started(sid, **who)
                client.connect(sid, **who)
        await super().websocket_connect(message)  # type: ignore[misc]

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        client = self.chatwatch_client
        if client is not None:
            sid = self.chatwatch_session_id()
            client.disconnect(sid)
            if message.get("code", 1000) in _NORMAL_CLOSE:
                client.session_ended(sid, reason="closed")
                self._chatwatch_seen.discard(sid)
        await super().websocket_disconnect(message)  # type: ignore[misc]
