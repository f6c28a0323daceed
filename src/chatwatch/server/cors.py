"""CORS for the read routes only (``CHATWATCH_CORS_ORIGINS``; none by default), so a
panel on another origin (guide 003's Next.js page) can fetch ``/monitoring/stats/summary``.

Only GET is allowed, with the ``Authorization`` header and no cookies: a page elsewhere
can read with a key it holds (give it a ``summary`` key, which sees only aggregates),
never with a dashboard login. Ingest, admin and dashboard routes get no CORS headers,
so a browser refuses their answers to other origins.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["READ_PREFIXES", "ReadCors"]

READ_PREFIXES = (
    "/monitoring/metrics",
    "/monitoring/stats/",
    "/monitoring/health",
    "/api/v1/metrics",
    "/api/v1/sessions",
    "/api/v1/runs/",
    "/api/v1/alerts",
    "/api/chat/analytics/export/",
)


class ReadCors:
    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET"],
            allow_headers=["Authorization"],
            allow_credentials=False,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope["path"]).startswith(READ_PREFIXES):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
