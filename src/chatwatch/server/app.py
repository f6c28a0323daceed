"""The ASGI app, assembled from small parts: state, routers, background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from chatwatch.alerts import alert_task, load_rules
from chatwatch.config import Settings
from chatwatch.dashboard import routes as dashboard_routes
from chatwatch.metrics import Catalogue
from chatwatch.server import (
    alerts_api,
    export,
    feedback,
    health,
    ingest,
    keys_api,
    monitoring,
    openapi,
    openapi_doc,
    otlp,
    prometheus,
    runbook,
    sessions_api,
)
from chatwatch.server.body_limit import BodyLimit
from chatwatch.server.cors import ReadCors
from chatwatch.server.proxy import ProxyMiddleware
from chatwatch.server.reads import ClientGone, client_gone
from chatwatch.server.state import AppState
from chatwatch.store import Store
from chatwatch.store.maintenance import maintenance_task

__all__ = ["BackgroundTask", "create_app"]

log = logging.getLogger("chatwatch.server")

BackgroundTask = Callable[[AppState], Coroutine[Any, Any, None]]


def _background_tasks(st: AppState) -> list[BackgroundTask]:
    """Long-running loops started with the server (maintenance, alert evaluation)."""
    tasks: list[BackgroundTask] = list(st.extras.get("background", []))
    if st.settings.maintenance_interval_s > 0:
        tasks.append(maintenance_task)
    if st.settings.alerts_enabled:
        tasks.append(alert_task)
    tasks.append(otlp.pending_task)  # OTLP calls whose trace root never came
    if st.settings.otlp_grpc_port:
        from chatwatch.server.otlp_grpc import grpc_task

        tasks.append(grpc_task)
    return tasks


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    st: AppState = app.state.chatwatch
    running = [asyncio.create_task(task(st)) for task in _background_tasks(st)]
    await asyncio.to_thread(ingest.parse_pool(st).start)
    try:
        yield
    finally:
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        writer = st.extras.get("group_writer")
        if writer is not None:  # acknowledged batches are committed; fold their journal
            await asyncio.to_thread(writer.close)
        await asyncio.to_thread(ingest.parse_pool(st).close)


def create_app(
    settings: Settings | None = None,
    store: Store | None = None,
    *,
    background: list[BackgroundTask] | None = None,
) -> FastAPI:
    settings = settings or Settings()
    store = store or Store(
        settings.database_url,
        store_text=settings.store_text,
        minute_retention_s=settings.minute_retention_days * 86400,
        label_caps=settings.label_caps(),
        sqlite_synchronous=settings.sqlite_synchronous,
    )
    st = AppState(settings=settings, store=store, catalogue=Catalogue(store, settings))
    st.extras["background"] = list(background or [])
    if settings.alerts_enabled:
        st.extras["alert_rules"] = load_rules(settings.rules_file)  # bad rules refuse to start
    app = FastAPI(  # schema behind a read key (server/openapi.py), no open docs pages
        title="chatwatch",
        version="0.1.0",
        lifespan=_lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.add_exception_handler(ClientGone, client_gone)  # a read whose client left
    app.state.chatwatch = st
    for module in (
        health,
        ingest,
        monitoring,
        export,
        otlp,
        prometheus,
        dashboard_routes,
        alerts_api,
        sessions_api,
        feedback,
        keys_api,
        openapi,
        runbook,
    ):
        app.include_router(module.router)
    if settings.cors_origins:  # read routes only (server/cors.py)
        app.add_middleware(ReadCors, origins=settings.cors_origins)
    app.add_middleware(BodyLimit)  # bodies of every route but ingest: at most 1 MiB
    app.add_middleware(ProxyMiddleware, settings=settings)  # real client, scheme, Host check
    openapi_doc.install(app, settings.max_batch_events)  # every body and status documented
    return app
