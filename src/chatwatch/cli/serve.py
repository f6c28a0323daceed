"""``chatwatch serve`` and ``chatwatch migrate``."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from chatwatch.cli._app import DbOption, app, console, settings_for
from chatwatch.server import create_app
from chatwatch.server.gc_tuning import tune_for_server
from chatwatch.server.proxy import allowed_hosts
from chatwatch.store import Store

__all__ = ["migrate", "serve"]


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
    # chatwatch's ProxyMiddleware decides which X-Forwarded-* to believe, not uvicorn
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level=log_level,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=settings.shutdown_grace_s,
    )


@app.command()
def migrate(db: DbOption = None) -> None:
    """Create or upgrade the database schema (the server also does this at start)."""
    settings = settings_for(db)
    Store(settings.database_url).close()
    console.print("schema is up to date")
