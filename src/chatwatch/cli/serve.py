"""``chatwatch serve`` and ``chatwatch migrate``."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from typing import Annotated

import typer
import uvicorn

from chatwatch.cli._app import DbOption, app, console, settings_for
from chatwatch.server import create_app, reads
from chatwatch.server.gc_tuning import tune_for_server
from chatwatch.server.malloc_tuning import limit_malloc_arenas
from chatwatch.server.proxy import allowed_hosts
from chatwatch.store import Store

__all__ = ["HTTP_PROTOCOL", "migrate", "serve"]

# h11, never uvicorn's "auto" pick of httptools where it is installed (uvicorn[standard]):
# h11 answers 400 to a request head past 16 KB, httptools buffers a header without end
# (one key-less connection grew the server by 190 MB in 20 s; tests/server/test_hostile_bodies.py)
HTTP_PROTOCOL = "h11"
_CANCEL_MARGIN_S = 0.5  # after the grace period: cancelled reads answer, then uvicorn cuts


class _Server(uvicorn.Server):
    """uvicorn's server, whose grace period ends every running read at once.

    uvicorn cancels the requests still running after the grace period one by one on the
    event loop; while the other reads go on computing in their threads, the loop waits for
    the GIL at every step, and eight long reads kept a 1 s grace from ending the server for
    2-4 s more. Their tokens are set together when the grace period is over, so the reads
    stop at their next check and the cancellations run on a free loop."""

    def __init__(self, config: uvicorn.Config, grace_s: float) -> None:
        super().__init__(config)
        self.grace_s = grace_s

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # the reads are stopped at the grace period; uvicorn's own cancellation comes
        # _CANCEL_MARGIN_S later (config), for the few requests that are not reads, so
        # the reads are answered 503 rather than cut off by it
        loop = asyncio.get_running_loop()
        handle = loop.call_later(self.grace_s, reads.cancel_all, self.config.app)
        try:
            await super().shutdown(sockets)
        finally:
            handle.cancel()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on")] = 8000,
    db: DbOption = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the chatwatch server (ingest, /monitoring, /metrics, dashboard, alerts)."""
    settings = settings_for(db)
    settings = settings.model_copy(update={"allowed_hosts": allowed_hosts(settings, host)})
    application = create_app(settings)
    console.print(f"chatwatch listening on http://{host}:{port}/")
    tune_for_server()  # this process is the server's alone
    limit_malloc_arenas()  # before its threads start
    # chatwatch's ProxyMiddleware decides which X-Forwarded-* to believe, not uvicorn
    config = uvicorn.Config(
        application,
        host=host,
        port=port,
        log_level=log_level,
        proxy_headers=False,
        server_header=False,
        http=HTTP_PROTOCOL,
        # typed int, used as asyncio.timeout(): a float is what that takes
        timeout_graceful_shutdown=settings.shutdown_grace_s + _CANCEL_MARGIN_S,  # type: ignore[arg-type]
    )
    server = _Server(config, settings.shutdown_grace_s)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()  # uvicorn.run, with the server above
    if not server.started:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE


@app.command()
def migrate(db: DbOption = None) -> None:
    """Create or upgrade the database schema (the server also does this at start)."""
    settings = settings_for(db)
    Store(settings.database_url).close()
    console.print("schema is up to date")
