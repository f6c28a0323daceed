"""Django Channels: a consumer's WebSocket life and its turns, without touching its logic.

Mix ``ChatwatchConsumerMixin`` in before ``AsyncWebsocketConsumer`` (or
``AsyncJsonWebsocketConsumer``). The client is ``chatwatch_client`` if set, else the one
``settings.CHATWATCH`` configures (:func:`chatwatch.integrations.django.get_client`).

- connect: the session start and a connect, with ``user_id``/``user_type`` from
  ``scope["user"]`` on every event of the connection;
- every message received: one turn, current while ``receive()`` runs (so
  ``chatwatch.current_turn()`` and the client's ``llm_call``/``rag_search`` attach to it);
- an exception in a handler: a failed turn, the connection closed out (disconnect
  recorded, the socket closed with 1011), the exception re-raised as Channels would;
- disconnect, whatever the close code; the session ends too unless the code is a drop
  the client comes back from (1006, 1011, 1012...: :mod:`chatwatch.sdk.connection`).

Reconnects are decided by the chatwatch server, so several daphne processes behind one
balancer count a client coming back on another process as a reconnect. The session id
is ``chatwatch_session_id()`` (default: the ``session_id`` URL kwarg, else the
``session_id`` query parameter, else the channel name).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from chatwatch.sdk.connection import RESUMABLE_CLOSE_CODES, ConnectionScope

if TYPE_CHECKING:
    from chatwatch.sdk import Client

__all__ = ["ChatwatchConsumerMixin"]


class ChatwatchConsumerMixin:
    chatwatch_client: Client | None = None
    chatwatch_resumable_close_codes: frozenset[int] = RESUMABLE_CLOSE_CODES
    scope: dict[str, Any]
    channel_name: str
    _chatwatch: ConnectionScope | None = None

    def chatwatch_session_id(self) -> str:
        kwargs = self.scope.get("url_route", {}).get("kwargs", {})
        if kwargs.get("session_id"):
            return str(kwargs["session_id"])[:128]
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        given = query.get("session_id", [""])[0].strip()
        return given[:128] or self.channel_name

    def chatwatch_user(self) -> dict[str, str | None]:
        """``user_id`` and ``user_type`` of ``scope["user"]`` (override to map your own)."""
        user = self.scope.get("user")
        if user is None or not getattr(user, "is_authenticated", False):
            return {"user_id": None, "user_type": "anonymous"}
        kind = getattr(user, "user_type", None) or ("staff" if user.is_staff else "user")
        return {"user_id": str(user.pk), "user_type": str(kind)}

    def _chatwatch_client(self) -> Client | None:
        if self.chatwatch_client is not None:
            return self.chatwatch_client
        from chatwatch.integrations.django.client import get_client

        return get_client()

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        client = self._chatwatch_client()
        if client is not None:
            who = self.chatwatch_user()
            self._chatwatch = ConnectionScope(
                client,
                self.chatwatch_session_id(),
                user_id=who.get("user_id"),
                user_type=who.get("user_type"),
                resumable=self.chatwatch_resumable_close_codes,
            )
        await super().websocket_connect(message)  # type: ignore[misc]

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        if headers is None:
            await super().accept(subprotocol)  # type: ignore[misc]
        else:
            await super().accept(subprotocol, headers)  # type: ignore[misc]
        if self._chatwatch is not None:
            self._chatwatch.opened()

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        conn = self._chatwatch
        if conn is None or not conn.is_open:
            await super().websocket_receive(message)  # type: ignore[misc]
            return
        turn = conn.begin_turn()
        text = message.get("text")
        if isinstance(text, str) and text:
            turn.sensitive.append(text)
        try:
            await super().websocket_receive(message)  # type: ignore[misc]
        except BaseException as exc:
            conn.closed(1011, exc)
            await self._chatwatch_close_out()
            raise
        conn.end_turn()

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        if self._chatwatch is not None:
            self._chatwatch.closed(code if isinstance(code, int) and code > 1 else 1000)
        if reason is None:
            await super().close(code)  # type: ignore[misc]
        else:
            await super().close(code, reason)  # type: ignore[misc]

    async def _chatwatch_close_out(self) -> None:
        with contextlib.suppress(Exception):  # the socket may be gone already
            await self.close(code=1011)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        if self._chatwatch is not None:
            self._chatwatch.closed(message.get("code"))
        await super().websocket_disconnect(message)  # type: ignore[misc]
