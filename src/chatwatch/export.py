"""Analytics export (guide 000's ``export_chat_analytics``): one row per day or hour of
catalogue metrics, as CSV or JSON."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any, Literal

from chatwatch.metrics import Catalogue, explicit_window
from chatwatch.store import Filters

__all__ = ["EXPORT_METRICS", "Granularity", "export_rows", "to_csv"]

Granularity = Literal["day", "hour"]
_STEP = {"day": 86400, "hour": 3600}
MAX_ROWS = 24 * 400

EXPORT_METRICS: tuple[str, ...] = (
    "sessions",
    "total_requests",
    "successful_requests",
    "failed_requests",
    "error_rate",
    "avg_response_time_ms",
    "p95_response_time_ms",
    "cache_hit_rate",
    "messages",
    "messages_per_session",
    "reconnection_rate",
    "escalations",
    "escalation_rate",
    "ratings",
    "satisfaction",
    "llm_calls",
    "llm_tokens",
    "llm_cost_usd",
    "llm_avg_latency_ms",
    "rag_searches",
    "rag_avg_similarity",
    "rag_success_rate",
    "tokens_per_request",
)


def export_rows(
    catalogue: Catalogue,
    start_date: date,
    end_date: date,
    filters: Filters = Filters(),
    granularity: Granularity = "day",
) -> list[dict[str, Any]]:
    """Rows from ``start_date`` through ``end_date`` (both whole UTC days, inclusive)."""
    if end_date < start_date:
        raise ValueError("end_date must not be before start_date")
    window = explicit_window(start_date, end_date)
    step = _STEP[granularity]
    if window.seconds // step > MAX_ROWS:
        raise ValueError(f"at most {MAX_ROWS} rows per export; narrow the dates")
    rows = []
    table = catalogue.table(list(EXPORT_METRICS), window, step, filters, max_buckets=MAX_ROWS)
    for ts, values in table:
        period = datetime.fromtimestamp(ts, UTC)
        label = period.date().isoformat() if granularity == "day" else period.isoformat()
        row: dict[str, Any] = {"period": label}
        row.update({name: _clean(values[name]) for name in EXPORT_METRICS})
        rows.append(row)
    return rows


def _clean(value: float | None) -> float | int | None:
    if value is None:
        return None
    if float(value).is_integer():
        return int(value)
    return round(value, 4)


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["period", *EXPORT_METRICS], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()
