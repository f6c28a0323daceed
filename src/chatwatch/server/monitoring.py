"""Guide 003's ``/monitoring/*`` JSON, key for key, and the catalogue as JSON.

Every number comes from the metric catalogue; this module only names and rounds them
(milliseconds, percentages and MB to 2 decimals, similarity to 3). A missing average
(nothing to average) is reported as 0, as the guide's endpoints do.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from chatwatch.metrics import Catalogue, Reading, explicit_window
from chatwatch.metrics.definitions import unhonoured
from chatwatch.server.auth import require
from chatwatch.server.params import FilterLabel, FilterLongLabel, IsoDateTime
from chatwatch.server.reads import run_read
from chatwatch.server.state import state
from chatwatch.store import Filters

__all__ = ["ReadingParams", "metrics_document", "router", "summary_document"]

router = APIRouter()


class ReadingParams:
    """The query parameters every read endpoint takes."""

    def __init__(
        self,
        window: Annotated[
            str | None, Query(description="5m, 1h, 24h (default), 7d, 30d or all")
        ] = None,
        start: Annotated[IsoDateTime | None, Query(description="explicit start (UTC)")] = None,
        end: Annotated[IsoDateTime | None, Query(description="explicit end (UTC)")] = None,
        service: FilterLabel | None = None,
        model: FilterLongLabel | None = None,
        user_type: FilterLabel | None = None,
        channel: FilterLabel | None = None,
    ) -> None:
        self.window = window
        self.start = start
        self.end = end
        self.filters = Filters(service=service, model=model, user_type=user_type, channel=channel)

    def reading(self, catalogue: Catalogue) -> Reading:
        try:
            if self.start is not None or self.end is not None:
                if self.start is None or self.end is None:
                    raise ValueError("give both start and end")
                return catalogue.reading(explicit_window(self.start, self.end), self.filters)
            return catalogue.reading(self.window, self.filters)
        except ValueError as exc:
            field = "window" if self.start is None and self.end is None else "start/end"
            raise HTTPException(
                422, [{"loc": ["query", field], "msg": str(exc), "type": "value_error"}]
            ) from None


def _r(value: float | None, digits: int = 2) -> float:
    return 0.0 if value is None else round(value, digits)


def _i(value: float | None) -> int:
    return 0 if value is None else round(value)


def _alias(model: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", model.lower()).strip("_") or "unknown"


def system_status(cat: Catalogue, r: Reading) -> str:
    """From the app's memory, guide 003's resource alert (a single CPU reading is too noisy
    to judge); ``unknown`` while no SDK heartbeat tells it."""
    memory = cat.value("memory_usage_mb", r)
    if memory is None:
        return "unknown"
    threshold = cat.metric("memory_usage_mb").threshold
    level = threshold.level(memory) if threshold else "ok"
    return {"ok": "healthy", "warning": "degraded"}.get(level, "critical")


def _instances(cat: Catalogue, r: Reading) -> list[dict[str, Any]]:
    return [
        {
            "service": i.service,
            "host": i.host,
            "pid": i.pid,
            "cpu_percent": _r(i.cpu_percent),
            "memory_usage_mb": _r(i.memory_rss_mb),
            "threads": i.threads,
            "connections": i.connections,
            "sdk_queue_depth": i.queue_depth,
            "sdk_dropped_events": i.dropped,
            "last_heartbeat": datetime.fromtimestamp(i.ts, UTC).isoformat(timespec="seconds"),
        }
        for i in cat.instances(r)
    ]


def _model_calls(cat: Catalogue, r: Reading) -> dict[str, int]:
    aliases = cat.settings.model_aliases
    named = {model: alias for alias, model in aliases.items()}
    out = {f"model_{_alias(alias)}_calls": 0 for alias in aliases}
    for model, calls in cat.by_model("llm_calls", r).items():
        key = f"model_{_alias(named.get(model, model))}_calls"
        out[key] = out.get(key, 0) + _i(calls)
    return out


def ignored_filters(cat: Catalogue, r: Reading, names: list[str] | None = None) -> dict[str, Any]:
    """``{"ignored_filters": {filter: [metrics that cannot honour it]}}``, or ``{}``."""
    ignored = cat.ignored_filters(names or list(cat.metrics), r.filters)
    return {"ignored_filters": ignored} if ignored else {}


def metrics_document(cat: Catalogue, r: Reading) -> dict[str, Any]:
    v = cat.values(r)
    return {
        **ignored_filters(cat, r, list(v)),
        "timestamp": datetime.fromtimestamp(r.now, UTC).isoformat(timespec="seconds"),
        "uptime_seconds": _i(v["uptime_seconds"]),
        "system": {  # the monitored app's processes, from their SDK heartbeats
            "cpu_percent": _r(v["cpu_percent"]),
            "memory_usage_mb": _r(v["memory_usage_mb"]),
            "memory_available_mb": _r(v["memory_available_mb"]),
            "threads": _i(v["threads"]),
            "status": system_status(cat, r),
            "instances": _instances(cat, r),
        },
        "chatwatch": {  # the chatwatch server's own process
            "cpu_percent": _r(v["server_cpu_percent"]),
            "memory_usage_mb": _r(v["server_memory_usage_mb"]),
            "memory_available_mb": _r(v["server_memory_available_mb"]),
            "threads": _i(v["server_threads"]),
            "uptime_seconds": _i(v["server_uptime_seconds"]),
        },
        "chat": {
            "total_requests": _i(v["total_requests"]),
            "successful_requests": _i(v["successful_requests"]),
            "failed_requests": _i(v["failed_requests"]),
            "client_errors": _i(v["client_errors"]),
            "avg_response_time_ms": _r(v["avg_response_time_ms"]),
            "rag_queries": _i(v["rag_queries"]),
            "rag_no_results": _i(v["rag_no_results"]),
            "llm_calls": _i(v["llm_calls"]),
            "llm_tokens_used": _i(v["llm_tokens_used"]),
        },
        "rag": {
            "total_searches": _i(v["rag_searches"]),
            "avg_similarity_score": _r(v["rag_avg_similarity"], 3),
            "avg_search_time_ms": _r(v["rag_avg_search_time_ms"]),
            "cache_hits": _i(v["rag_cache_hits"]),
            "cache_misses": _i(v["rag_cache_misses"]),
        },
        "llm": {
            "total_calls": _i(v["llm_calls"]),
            "total_tokens": _i(v["llm_tokens"]),
            "avg_latency_ms": _r(v["llm_avg_latency_ms"]),
            **_model_calls(cat, r),
        },
        "performance": {
            "error_rate": _r(v["error_rate"]),
            "avg_response_time_ms": _r(v["avg_response_time_ms"]),
            "rag_success_rate": _r(v["rag_success_rate"]),
        },
    }


def summary_document(cat: Catalogue, r: Reading) -> dict[str, Any]:
    names = [
        "uptime_seconds",
        "total_requests",
        "success_rate",
        "avg_response_time_ms",
        "rag_avg_similarity",
        "llm_tokens",
        "llm_avg_latency_ms",
    ]
    v = cat.values(r, names)
    return {
        **ignored_filters(cat, r, names),
        "uptime_hours": _r((v["uptime_seconds"] or 0) / 3600),
        "total_requests": _i(v["total_requests"]),
        "success_rate_percent": _r(v["success_rate"]),
        "avg_response_time_ms": _r(v["avg_response_time_ms"]),
        "rag_avg_similarity": _r(v["rag_avg_similarity"], 3),
        "llm_total_tokens": _i(v["llm_tokens"]),
        "llm_avg_latency_ms": _r(v["llm_avg_latency_ms"]),
        "system_status": system_status(cat, r),
    }


Reader = Annotated[object, Depends(require("read"))]


@router.get("/monitoring/metrics")
async def monitoring_metrics(
    request: Request, _key: Reader, params: Annotated[ReadingParams, Depends()]
) -> dict[str, Any]:
    cat = state(request).catalogue
    reading = params.reading(cat)
    return await run_read(request, metrics_document, cat, reading)


@router.get("/monitoring/stats/summary")
async def monitoring_summary(
    request: Request,
    _key: Annotated[object, Depends(require("summary"))],
    params: Annotated[ReadingParams, Depends()],
) -> dict[str, Any]:
    cat = state(request).catalogue
    reading = params.reading(cat)
    return await run_read(request, summary_document, cat, reading)


@router.get("/monitoring/health")
async def monitoring_health(request: Request) -> dict[str, str]:
    return {
        "status": "ok",
        "service": state(request).settings.service_name,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }


@router.get("/api/v1/metrics")
async def catalogue_values(
    request: Request, _key: Reader, params: Annotated[ReadingParams, Depends()]
) -> dict[str, Any]:
    """Every catalogue metric for the window, with unit and threshold level, plus breakdowns."""
    cat = state(request).catalogue
    reading = params.reading(cat)

    def build() -> dict[str, Any]:
        metrics: dict[str, dict[str, Any]] = {}
        for name, value in cat.values(reading).items():
            metric = cat.metric(name)
            level = metric.threshold.level(value) if metric.threshold else "ok"
            metrics[name] = {"value": value, "unit": metric.unit, "level": level}
            ignored = unhonoured(metric.filters, dataclasses.asdict(reading.filters))
            if ignored:
                metrics[name]["ignored_filters"] = ignored
        return {
            "window": {"start": reading.window.start, "end": reading.window.end},
            "metrics": metrics,
            "by_model": {
                name: cat.by_model(name, reading)
                for name in ("llm_calls", "llm_avg_latency_ms", "llm_cost_usd", "llm_tokens")
            },
            "breakdowns": {name: cat.breakdown(name, reading) for name in cat.breakdowns},
        }

    return await run_read(request, build)
