"""Hand-built OTLP exports for the tests: spans with chosen ids, times and attributes."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from sqlalchemy import select

from chatwatch.store import Store
from chatwatch.store.schema import events

T0 = (int(time.time()) - 3600) * 10**9  # an hour ago, in whole seconds (nanoseconds)
MS = 1_000_000


def trace_hex(trace: int) -> str:
    return trace.to_bytes(16, "big").hex()


def _any(value: object) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list):
        out = AnyValue()
        out.array_value.values.extend(_any(v) for v in value)
        return out
    return AnyValue(string_value=str(value))


def kvs(attrs: Mapping[str, object]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_any(v)) for k, v in attrs.items()]


def span(
    trace: int,
    span_id: int,
    parent: int | None = None,
    *,
    start_ms: float = 0,
    duration_ms: float = 100,
    attrs: Mapping[str, object] | None = None,
    error: bool = False,
    exception: str | None = None,
    name: str = "span",
) -> Span:
    s = Span(
        trace_id=trace.to_bytes(16, "big"),
        span_id=span_id.to_bytes(8, "big"),
        name=name,
        start_time_unix_nano=T0 + int(start_ms * MS),
        end_time_unix_nano=T0 + int((start_ms + duration_ms) * MS),
    )
    if parent is not None:
        s.parent_span_id = parent.to_bytes(8, "big")
    s.attributes.extend(kvs(attrs or {}))
    if error:
        s.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="boom"))
    if exception:
        event = s.events.add()
        event.name = "exception"
        event.attributes.extend(kvs({"exception.type": exception, "exception.message": "x"}))
    return s


def export(spans: Sequence[Span], service: str = "treq") -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(kvs({"service.name": service}))
    rs.scope_spans.add().spans.extend(spans)
    return req


def body(spans: Sequence[Span], service: str = "treq") -> bytes:
    return export(spans, service).SerializeToString()


def stored(store: Store) -> dict[str, dict[str, Any]]:
    """Every stored event by id: its data plus the indexed columns."""
    with store.read() as conn:
        rows = conn.execute(select(events)).all()
    out = {}
    for row in rows:
        data = json.loads(row.data)
        data.update(type=row.type, session_id=row.session_id, run_id=row.run_id, ts=row.ts)
        data.update(id=row.id, user_id=row.user_id)
        out[row.id] = data
    return out
