"""Pure-ASGI middleware for FastAPI or Starlette chat apps: one ``turn`` per chat request.

Only HTTP requests whose path starts with one of ``paths`` are recorded; everything else
(and every non-HTTP scope) passes straight through. A response with status ≥ 500, or an
exception, is a failed turn; the exception still propagates.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from chatwatch.sdk import Client

__all__ = ["ChatwatchMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ChatwatchMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        client: Client,
        *,
        paths: tuple[str, ...] = ("/chat",),
        session_header: str = "x-session-id",
        user_header: str = "x-user-id",
    ) -> None:
        if not paths:
            raise ValueError("paths must name at least one path prefix to record")
        self.app = app
        self.client = client
        self.paths = paths
        self.session_header = session_header.lower().encode()
        self.user_header = user_header.lower().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.paths):
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        error: str | None = None
        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            error = type(exc).__name__
            raise
        finally:
            self._record(scope, status, error, (time.perf_counter() - started) * 1000)

    def _record(self, scope: Scope, status: int, error: str | None, elapsed_ms: float) -> None:
        headers = dict(scope.get("headers") or [])
        session = headers.get(self.session_header)
        user = headers.get(self.user_header)
        failed = error is not None or status >= 500
        self.client.record_turn(
            elapsed_ms,
            success=not failed,
            error_type=(error or f"HTTP{status}") if failed else None,
            session_id=session.decode("latin-1")[:128] if session else None,
            user_id=user.decode("latin-1")[:128] if user else None,
            attributes={"route": scope["path"][:256], "status": status},
        )
