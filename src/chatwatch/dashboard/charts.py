"""The overview's charts as plain data: every value comes from the catalogue (a series per
time bucket, a breakdown, or a metric per model); ``static/charts.js`` draws them.

A chart is ``{"id", "title", "kind", "unit", "x" | "labels", "series", ...}`` where
``kind`` is ``time`` (x: bucket start timestamps) or ``category`` (labels), and each
series is ``{"name", "values", "style", "unit"}``.
"""

from __future__ import annotations

from typing import Any

from chatwatch.cancel import check as check_cancelled
from chatwatch.dashboard.format import format_value
from chatwatch.metrics import Catalogue, Reading, Window
from chatwatch.metrics.window import capped_step

__all__ = ["TIME_METRICS", "build_charts", "step_for", "time_charts", "time_series"]

_MINUTE, _HOUR, _DAY = 60, 3600, 86400

# The series every time chart reads, fetched together in one catalogue table.
TIME_METRICS = (
    "sessions",
    "avg_response_time_ms",
    "p95_response_time_ms",
    "error_rate",
    "cache_hit_rate",
    "rag_cache_hit_rate",
    "reconnection_rate",
)


def step_for(window: Window) -> int:
    """Bucket size: minutes up to 3 h, hours up to 2 days, days beyond (a week is seven
    daily points: hourly rollups for a week are the slowest read the page could make),
    and whole numbers of days past MAX_BUCKETS days (``all``, a range of centuries)."""
    if window.seconds <= 3 * _HOUR:
        return _MINUTE
    if window.seconds <= 2 * _DAY:
        return _HOUR
    return capped_step(window, _DAY)


def _step_name(step: int) -> str:
    named = {_MINUTE: "minute", _HOUR: "hour", _DAY: "day"}
    return named.get(step) or f"{step // _DAY:,} days"


# Past this many hour or day buckets, one bucketed read beats a cached reading each.
_READINGS_MAX = 100


def _series(name: str, values: list[Any], style: str, unit: str) -> dict[str, Any]:
    return {"name": name, "values": values, "style": style, "unit": unit}


Rows = list[tuple[int, dict[str, float | None]]]


def time_series(cat: Catalogue, reading: Reading) -> Rows:
    """The time charts' metrics per bucket. Hour and day buckets are each a catalogue
    reading of their own: the store remembers sealed hours and days, so a refresh reads
    only the newest bucket from the database. Minute buckets come from one table read."""
    step = step_for(reading.window)
    if step == _MINUTE or reading.window.seconds // step > _READINGS_MAX:
        return cat.table(list(TIME_METRICS), reading.window, step, reading.filters)
    rows: Rows = []
    for ts in range(reading.window.start // step * step, reading.window.end, step):
        check_cancelled()
        bucket = cat.reading(Window(ts, ts + step, "bucket"), reading.filters)
        rows.append((ts, {name: cat.value(name, bucket) for name in TIME_METRICS}))
    return rows


def time_charts(cat: Catalogue, reading: Reading, rows: Rows | None = None) -> list[dict[str, Any]]:
    step = step_for(reading.window)
    rows = time_series(cat, reading) if rows is None else rows
    x = [ts for ts, _ in rows]

    def col(name: str) -> list[float | None]:
        return [values[name] for _, values in rows]

    per = _step_name(step)

    def chart(id_: str, title: str, unit: str, *series: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": id_,
            "title": title,
            "kind": "time",
            "unit": unit,
            "step": step,
            "x": x,
            "series": list(series),
        }

    return [
        chart(
            "sessions",
            f"Sessions per {per}",
            "count",
            _series("sessions started", col("sessions"), "bar", "count"),
        ),
        chart(
            "response_time",
            "Response time",
            "ms",
            _series("average", col("avg_response_time_ms"), "line", "ms"),
            _series("p95", col("p95_response_time_ms"), "line", "ms"),
        ),
        chart(
            "error_rate",
            "Error rate",
            "percent",
            _series("error rate", col("error_rate"), "area", "percent"),
        ),
        chart(
            "cache",
            "Cache hit rate",
            "percent",
            _series("responses", col("cache_hit_rate"), "line", "percent"),
            _series("RAG searches", col("rag_cache_hit_rate"), "line", "percent"),
        ),
        chart(
            "reconnection_rate",
            "WebSocket reconnection rate",
            "percent",
            _series("sessions that reconnected", col("reconnection_rate"), "area", "percent"),
        ),
    ]


def _category(
    id_: str, title: str, unit: str, labels: list[str], *series: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "id": id_,
        "title": title,
        "kind": "category",
        "unit": unit,
        "labels": labels,
        "series": list(series),
        **extra,
    }


def _breakdown_charts(cat: Catalogue, reading: Reading) -> list[dict[str, Any]]:
    ratings = cat.breakdown("rating_distribution", reading)
    topics = cat.breakdown("top_topics", reading)
    similarity = cat.breakdown("rag_similarity_distribution", reading)
    actions = cat.breakdown("connections_by_action", reading)
    kinds: list[str] = [k for k in ("connect", "reconnect", "disconnect") if k in actions]
    kinds += sorted(set(actions) - set(kinds))
    open_now = cat.value("websocket_connections", reading)
    usage = cat.value("websocket_usage", reading)
    return [
        _category(
            "ratings",
            "Rating distribution",
            "count",
            [f"{k}★" for k in ratings],
            _series("ratings", list(ratings.values()), "bar", "count"),
        ),
        _category(
            "topics",
            "Top topics",
            "count",
            list(topics),
            _series("turns", list(topics.values()), "bar", "count"),
            horizontal=True,
        ),
        _category(
            "rag_similarity",
            "RAG similarity distribution",
            "count",
            list(similarity),
            _series("searches", list(similarity.values()), "bar", "count"),
        ),
        _category(
            "websocket",
            "WebSocket connections and reconnections",
            "count",
            kinds,
            _series("events", [actions[k] for k in kinds], "bar", "count"),
            note=f"{format_value(open_now, 'count')} open now "
            f"({format_value(usage, 'percent')} of capacity)",
        ),
    ]


def _model_charts(cat: Catalogue, reading: Reading) -> list[dict[str, Any]]:
    calls = cat.by_model("llm_calls", reading)
    models = sorted(calls, key=lambda m: (-(calls[m] or 0), m))
    avg = cat.by_model("llm_avg_latency_ms", reading)
    p95 = cat.by_model("llm_p95_latency_ms", reading)
    cost = cat.by_model("llm_cost_usd", reading)
    return [
        _category(
            "llm_calls",
            "LLM calls per model",
            "count",
            models,
            _series("calls", [calls[m] for m in models], "bar", "count"),
            horizontal=True,
        ),
        _category(
            "llm_latency",
            "LLM latency per model",
            "ms",
            models,
            _series("average", [avg.get(m) for m in models], "bar", "ms"),
            _series("p95", [p95.get(m) for m in models], "bar", "ms"),
            horizontal=True,
        ),
        _category(
            "llm_cost",
            "LLM cost per model",
            "usd",
            models,
            _series("cost", [cost.get(m) for m in models], "bar", "usd"),
            horizontal=True,
        ),
    ]


def build_charts(
    cat: Catalogue, reading: Reading, made: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Every chart; ``made``: the time charts when already made (see ``time_charts``)."""
    charts = made if made is not None else time_charts(cat, reading)
    charts = charts + _breakdown_charts(cat, reading) + _model_charts(cat, reading)
    order = [
        "sessions",
        "response_time",
        "error_rate",
        "ratings",
        "topics",
        "cache",
        "llm_calls",
        "llm_latency",
        "llm_cost",
        "rag_similarity",
        "websocket",
        "reconnection_rate",
    ]
    return sorted(charts, key=lambda c: order.index(c["id"]))
