"""Exports: raw rows (sessions, turns, LLM calls, RAG searches, feedback, escalations,
alert transitions) streamed from the database, and guide 000's per-day or per-hour
catalogue figures (``daily``, ``hourly``); as CSV, JSONL, JSON or (with the ``parquet``
extra) Parquet. Columns are listed in docs/export.md.

Raw rows are encoded as they are read, a chunk at a time, so an export of millions of
rows holds one chunk in memory; the figures come from the metric catalogue, like
every other number chatwatch shows.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, get_args

from chatwatch.metrics import Catalogue, explicit_window
from chatwatch.store import Filters, Store
from chatwatch.store.export_read import (
    CHUNK,
    RowFilter,
    iter_alert_rows,
    iter_event_rows,
    iter_session_rows,
)

__all__ = [
    "COLUMNS",
    "EXPORT_METRICS",
    "ExportFormat",
    "ExportType",
    "Granularity",
    "RowFilter",
    "date_range",
    "encode",
    "export_records",
    "export_rows",
    "media_type",
    "to_csv",
]

Granularity = Literal["day", "hour"]
ExportType = Literal[
    "sessions",
    "turns",
    "llm_calls",
    "rag_searches",
    "feedback",
    "escalations",
    "alerts",
    "daily",
    "hourly",
]
ExportFormat = Literal["csv", "jsonl", "json", "parquet"]
EXPORT_TYPES: tuple[str, ...] = get_args(ExportType)
FORMATS: tuple[str, ...] = get_args(ExportFormat)
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

_EVENT = ("ts", "id", "service", "session_id", "user_id", "user_type", "run_id")
COLUMNS: dict[str, tuple[str, ...]] = {
    "sessions": (
        "service",
        "session_id",
        "user_id",
        "user_type",
        "channel",
        "first_seen",
        "started_at",
        "ended_at",
        "last_seen",
        "turns",
        "errors",
        "messages",
        "reconnects",
        "escalated_at",
        "rating_sum",
        "rating_n",
    ),
    "turns": (
        *_EVENT,
        "sender_type",
        "response_time_ms",
        "success",
        "error_type",
        "cached",
        "topic",
        "model",
        "tokens",
        "rag_used",
        "rag_found",
        "input_text",
        "output_text",
        "status_code",
        "llm_calls",
        "rag_searches",
    ),
    "llm_calls": (
        *_EVENT,
        "kind",
        "model",
        "response_model",
        "provider",
        "input_tokens",
        "output_tokens",
        "latency_ms",
        "success",
        "error_type",
        "cost_usd",
    ),
    "rag_searches": (
        *_EVENT,
        "similarity",
        "top_similarity",
        "results",
        "search_time_ms",
        "cache_hit",
    ),
    "feedback": (*_EVENT, "rating", "thumbs", "comment"),
    "escalations": (*_EVENT, "reason"),
    "alerts": (
        "ts",
        "rule",
        "fingerprint",
        "labels",
        "from_state",
        "to_state",
        "from_level",
        "level",
        "value",
        "threshold",
    ),
    "daily": ("period", *EXPORT_METRICS),
    "hourly": ("period", *EXPORT_METRICS),
}
_EVENT_TYPE = {
    "turns": "turn",
    "llm_calls": "llm_call",
    "rag_searches": "rag_search",
    "feedback": "feedback",
    "escalations": "escalation",
}
_BOOLS = {"success", "cached", "rag_used", "rag_found", "cache_hit"}
_INTS = {"turns", "errors", "messages", "reconnects", "rating_sum", "rating_n", "tokens"}
_INTS |= {"input_tokens", "output_tokens", "results", "rating", "status_code"}
_INTS |= {"llm_calls", "rag_searches"}
_FLOATS = {"response_time_ms", "latency_ms", "cost_usd", "similarity", "top_similarity"}
_FLOATS |= {"search_time_ms", "value", "threshold"}
_TIMES = {"ts", "first_seen", "started_at", "ended_at", "last_seen", "escalated_at"}
_MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
}


def media_type(fmt: str) -> str:
    return _MEDIA[fmt]


def date_range(start_date: date, end_date: date) -> tuple[float, float]:
    """Whole UTC days, both included, as ``[start, end)`` Unix seconds."""
    if end_date < start_date:
        raise ValueError("end_date must not be before start_date")
    start = datetime(start_date.year, start_date.month, start_date.day, tzinfo=UTC)
    end = datetime(end_date.year, end_date.month, end_date.day, tzinfo=UTC) + timedelta(days=1)
    return start.timestamp(), end.timestamp()


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
    # a column whose metric cannot narrow by a filter given is left empty, not unfiltered
    ignored = catalogue.ignored_filters(EXPORT_METRICS, filters)
    left_out = {metric for metrics in ignored.values() for metric in metrics}
    kept = [n for n in EXPORT_METRICS if n not in left_out]
    rows = []
    table = catalogue.table(kept, window, step, filters, max_buckets=MAX_ROWS)
    for ts, values in table:
        period = datetime.fromtimestamp(ts, UTC)
        label = period.date().isoformat() if granularity == "day" else period.isoformat()
        row: dict[str, Any] = {"period": label}
        row.update(
            {name: _clean(values[name]) if name in values else None for name in EXPORT_METRICS}
        )
        rows.append(row)
    return rows


def _clean(value: float | None) -> float | int | None:
    if value is None:
        return None
    if float(value).is_integer():
        return int(value)
    return round(value, 4)


def _iso(value: Any) -> Any:
    if value is None:
        return None
    return datetime.fromtimestamp(float(value), UTC).isoformat()


def _shaped(rows: Iterable[dict[str, Any]], columns: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """Each row with exactly the type's columns (absent fields None), times as ISO 8601."""
    times = [c for c in columns if c in _TIMES]
    for row in rows:
        shaped = {c: row.get(c) for c in columns}
        for c in times:
            value = shaped[c]
            if value is not None:
                shaped[c] = datetime.fromtimestamp(float(value), UTC).isoformat()
        yield shaped


def export_records(catalogue: Catalogue, kind: str, f: RowFilter) -> Iterator[dict[str, Any]]:
    """The rows of one export type, streamed (raw types) or computed (daily/hourly)."""
    if kind not in COLUMNS:
        raise ValueError(f"type must be one of {', '.join(COLUMNS)}")
    columns = COLUMNS[kind]
    if kind in ("daily", "hourly"):
        first = datetime.fromtimestamp(f.start, UTC).date()
        last = datetime.fromtimestamp(f.end - 1, UTC).date()
        filters = Filters(service=f.service, model=f.model, user_type=f.user_type)
        granularity: Granularity = "day" if kind == "daily" else "hour"
        yield from export_rows(catalogue, first, last, filters, granularity)
        return
    yield from _shaped(_raw(catalogue.store, kind, f), columns)


def _raw(store: Store, kind: str, f: RowFilter) -> Iterator[dict[str, Any]]:
    with store.settled() as conn:
        if kind == "sessions":
            yield from iter_session_rows(conn, f)
        elif kind == "alerts":
            yield from iter_alert_rows(conn, f)
        else:
            yield from iter_event_rows(conn, _EVENT_TYPE[kind], f)


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _csv(rows: Iterable[dict[str, Any]], columns: tuple[str, ...]) -> Iterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for n, row in enumerate(rows, 1):
        writer.writerow(
            [
                "" if v is None else ("true" if v else "false") if v is True or v is False else v
                for v in row.values()
            ]
            if len(row) == len(columns)
            else [_csv_value(row.get(c)) for c in columns]
        )
        if n % CHUNK == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()


def _jsonl(rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    chunk: list[str] = []
    for row in rows:
        chunk.append(json.dumps(row, separators=(",", ":")))
        if len(chunk) >= CHUNK:
            yield ("\n".join(chunk) + "\n").encode()
            chunk = []
    if chunk:
        yield ("\n".join(chunk) + "\n").encode()


def _json(rows: Iterable[dict[str, Any]], kind: str) -> Iterator[bytes]:
    yield f'{{"type":"{kind}","rows":['.encode()
    first = True
    for piece in _jsonl(rows):
        lines = piece.decode().rstrip("\n").split("\n")
        text = ",".join(lines)
        yield (text if first else "," + text).encode()
        first = False
    yield b"]}\n"


def encode(rows: Iterable[dict[str, Any]], kind: str, fmt: str) -> Iterator[bytes]:
    """The rows as ``fmt``, a chunk of bytes at a time."""
    columns = COLUMNS[kind]
    if fmt == "csv":
        return _csv(rows, columns)
    if fmt == "jsonl":
        return _jsonl(rows)
    if fmt == "json":
        return _json(rows, kind)
    if fmt == "parquet":
        return _parquet(rows, columns)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}")


def parquet_available() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def _parquet(rows: Iterable[dict[str, Any]], columns: tuple[str, ...]) -> Iterator[bytes]:
    """Parquet's footer comes last, so row groups go to a temporary file (one chunk in
    memory at a time) and the file is then streamed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def batch(chunk: list[dict[str, Any]]) -> Any:
        return pa.RecordBatch.from_pylist(chunk, schema=schema)

    def arrow_type(column: str) -> Any:
        if column in _BOOLS:
            return pa.bool_()
        if column in _INTS:
            return pa.int64()
        if column in _FLOATS or column in EXPORT_METRICS:
            return pa.float64()
        return pa.string()

    schema = pa.schema([(c, arrow_type(c)) for c in columns])
    fd, path = tempfile.mkstemp(suffix=".parquet")
    os.close(fd)
    try:
        with pq.ParquetWriter(path, schema) as writer:
            chunk: list[dict[str, Any]] = []
            for row in rows:
                chunk.append(row)
                if len(chunk) >= CHUNK * 5:
                    writer.write_batch(batch(chunk))
                    chunk = []
            if chunk:
                writer.write_batch(batch(chunk))
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                yield block
    finally:
        os.unlink(path)


def to_csv(rows: list[dict[str, Any]]) -> str:
    return b"".join(_csv(rows, COLUMNS["daily"])).decode()
