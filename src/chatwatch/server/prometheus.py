"""``GET /metrics``: the catalogue in the Prometheus text format.

The registry (fresh per app, never the global one) is made on first scrape and kept in
the app state. A read key is needed, like every read endpoint; ``metrics_public`` opens
it to all (for a Prometheus that cannot send a bearer token).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from chatwatch.metrics.prometheus import make_registry
from chatwatch.server.auth import require
from chatwatch.server.reads import run_read
from chatwatch.server.state import AppState, state

__all__ = ["registry", "router"]

router = APIRouter()
_read_key = require("read", public_if="metrics_public")


def registry(st: AppState) -> CollectorRegistry:
    found = st.extras.get("prometheus_registry")
    if found is None:
        found = make_registry(st.catalogue, st.settings.prometheus_window)
        st.extras["prometheus_registry"] = found
    return found


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(_read_key)])
async def metrics(request: Request) -> Response:
    st = state(request)
    body = await run_read(request, generate_latest, registry(st))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
