"""Pure-ASGI middleware for FastAPI, Starlette, Django's ``get_asgi_application()`` or any
ASGI app: it opens the chatwatch turn, it does not only count it.

- HTTP requests under ``paths`` (a prefix ends at a path segment: ``/chat`` covers
  ``/chat`` and ``/chat/ws``, not ``/chatbot-config``), except ``skip_methods``
  (``OPTIONS``, the CORS preflight a browser sends before each cross-origin POST, and
  ``HEAD``): one turn per request, *current* while the handler runs, so
  ``chatwatch.current_turn()`` returns it there and ``turn.llm_call(...)``,
  ``turn.rag_search(...)``, ``turn.cache_lookup(...)`` (or the client's own methods)
  attach to it; a ``cw.turn(...)`` opened inside joins it instead of counting twice. A
  redirect (a 3xx, such as the framework's trailing-slash 307) is no turn: the request
  it sends the client to is.
- WebSockets under ``websocket_paths``: session start and connect on accept, one turn per
  message received (current until the app waits for the next message), disconnect and,
  for a close code that is not a drop, session end (:mod:`chatwatch.sdk.connection`).

The failure rule is the client's (:mod:`chatwatch.sdk.outcome`): an exception or a status
>= 500 fails the turn, a 4xx keeps its status as a client error. Exceptions propagate.
Everything else (other paths, lifespan) passes straight through.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from chatwatch.sdk import Client
from chatwatch.sdk.connection import RESUMABLE_CLOSE_CODES, ConnectionScope

__all__ = ["ChatwatchMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ClientSource = Client | Callable[[], Client]
_MAX_ID = 128


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            text = value.decode("latin-1").strip()[:_MAX_ID]
            return text or None
    return None


def _prefixes(paths: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The paths themselves and, as ``str.startswith`` prefixes, each one ending at a
    segment (``/chat`` -> ``/chat/``; ``/chat/api/`` as given)."""
    exact = tuple(p.rstrip("/") or "/" for p in paths)
    under = tuple(p if p.endswith("/") else p + "/" for p in paths)
    return exact, under


def _strings(body: bytes) -> list[str]:
    """The request body's JSON strings (or the body as text): the chat text error reports
    must not carry (only the first 64 KB are looked at)."""
    try:
        data = json.loads(body[:65536])
    except ValueError:
        return [body[:65536].decode("utf-8", "replace")]
    found: list[str] = []
    stack = [data]
    while stack and len(found) < 100:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


class ChatwatchMiddleware:
    """``app.add_middleware(ChatwatchMiddleware, client=cw)`` or
    ``application = ChatwatchMiddleware(get_asgi_application(), client=...)``.

    ``client`` is a :class:`~chatwatch.Client` or a function returning one (read on first
    use, e.g. ``chatwatch.integrations.django.get_client``). The session comes from the
    ``session_header`` (or the ``session_id`` query parameter on WebSockets), the user from
    ``user_header``/``user_type_header``; ``identify(scope)`` may return them instead.
    """

    def __init__(
        self,
        app: ASGIApp,
        client: ClientSource,
        *,
        paths: tuple[str, ...] = ("/chat",),
        websocket_paths: tuple[str, ...] | None = None,
        session_header: str = "x-session-id",
        user_header: str = "x-user-id",
        user_type_header: str = "x-user-type",
        session_query: str = "session_id",
        identify: Callable[[Scope], dict[str, str | None]] | None = None,
        resumable_close_codes: frozenset[int] = RESUMABLE_CLOSE_CODES,
        skip_methods: frozenset[str] = frozenset({"OPTIONS", "HEAD"}),
    ) -> None:
        if not paths:
            raise ValueError("paths must name at least one path prefix to record")
        self.app = app
        self._source = client
        self._client: Client | None = client if isinstance(client, Client) else None
        self.paths = paths
        self.websocket_paths = paths if websocket_paths is None else websocket_paths
        self._http_exact, self._http_under = _prefixes(self.paths)
        self._ws_exact, self._ws_under = _prefixes(self.websocket_paths)
        self.skip_methods = frozenset(m.upper() for m in skip_methods)
        self.session_header = session_header.lower().encode()
        self.user_header = user_header.lower().encode()
        self.user_type_header = user_type_header.lower().encode()
        self.session_query = session_query
        self.identify = identify
        self.resumable = resumable_close_codes

    @property
    def client(self) -> Client:
        if self._client is None:
            source = self._source
            self._client = source if isinstance(source, Client) else source()
        return self._client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            if (path in self._http_exact or path.startswith(self._http_under)) and scope.get(
                "method", "GET"
            ) not in self.skip_methods:
                await self._http(scope, receive, send)
                return
        elif kind == "websocket":
            path = scope["path"]
            if path in self._ws_exact or path.startswith(self._ws_under):
                await self._websocket(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _identity(self, scope: Scope) -> dict[str, str | None]:
        if self.identify is not None:
            return dict(self.identify(scope))
        return {
            "session_id": _header(scope, self.session_header),
            "user_id": _header(scope, self.user_header),
            "user_type": _header(scope, self.user_type_header),
        }

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        who = self._identity(scope)
        turn = self.client.turn(attributes={"route": scope["path"][:256]}, **who)
        status: int | None = None

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        async def receive_wrapper() -> Message:
            message = await receive()
            body = message.get("body")
            if body and message["type"] == "http.request":
                turn.sensitive.extend(_strings(body))
            return message

        turn.__enter__()
        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        except BaseException as exc:
            turn.finish(exc, status)
            raise
        if status is not None and 300 <= status < 400:
            turn.discard()  # e.g. Starlette's trailing-slash 307: the retried request is the turn
        else:
            turn.finish(None, status)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        who = self._identity(scope)
        if who.get("session_id") is None:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = query.get(self.session_query, [""])[0].strip()[:_MAX_ID]
            who["session_id"] = given or uuid.uuid4().hex
        conn = ConnectionScope(
            self.client,
            str(who["session_id"]),
            user_id=who.get("user_id"),
            user_type=who.get("user_type"),
            resumable=self.resumable,
            attributes={"route": scope["path"][:256]},
        )

        async def receive_wrapper() -> Message:
            conn.end_turn()  # the app is back for more: the last message was handled
            message = await receive()
            if message["type"] == "websocket.receive":
                conn.begin_turn()
            elif message["type"] == "websocket.disconnect":
                conn.closed(message.get("code"))
            return message

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "websocket.accept":
                conn.opened()
            elif message["type"] == "websocket.close":
                conn.closed(int(message.get("code") or 1000))
            await send(message)

        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        except BaseException as exc:
            conn.closed(1011, exc)
            raise
        conn.closed(1000)
