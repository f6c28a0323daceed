"""An OTLP trace export (protobuf or JSON) as plain spans, counted before anything is mapped.

Both encodings end as the same :class:`Span`: ids as lowercase hex, attributes as Python
values (arrays as lists). OTLP/JSON is read as the OTLP spec writes it (lowerCamelCase
keys, hex ids, enums as numbers) and as proto3's canonical JSON mapping (snake_case keys,
base64 ids, enum names), since exporters emit both. A structure that is not an export at
all raises :class:`BadExport` (answered 400); a span that is malformed on its own becomes a
:class:`Rejected` entry, so the rest of the export is still mapped (OTLP partial success).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

__all__ = ["BadExport", "Rejected", "Span", "SpanError", "TooManySpans", "decode_export"]

_STATUS_ERROR = 2
_HEX = re.compile(r"^[0-9a-fA-F]+$")
MAX_DEPTH = 4  # nested arrays / kvlists in one attribute value


class BadExport(ValueError):
    """The body is not an OTLP trace export."""


@dataclass
class TooManySpans(Exception):
    spans: int
    limit: int


@dataclass(frozen=True)
class Rejected:
    """A span dropped alone: where it was and which field was wrong."""

    index: int
    field: str
    reason: str

    def message(self) -> str:
        return f"span {self.index}: {self.field}: {self.reason}"


@dataclass
class Span:
    index: int  # position in the export, for messages
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start_ns: int
    end_ns: int
    error: bool
    status_message: str
    attrs: dict[str, Any]
    resource: Mapping[str, Any]
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class SpanError(ValueError):
    """A span that cannot be mapped: the field at fault and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def decode_export(
    body: bytes, json_body: bool, max_spans: int
) -> tuple[list[Span], list[Rejected]]:
    """Spans and rejected spans of one export; raises BadExport or TooManySpans."""
    if json_body:
        return _from_json(body, max_spans)
    return _from_proto(body, max_spans)


# --- protobuf ----------------------------------------------------------------------------


def _from_proto(body: bytes, max_spans: int) -> tuple[list[Span], list[Rejected]]:
    message = ExportTraceServiceRequest()
    try:
        message.ParseFromString(body)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise BadExport(f"not an OTLP protobuf trace export: {exc}") from None
    total = sum(len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans)
    if total > max_spans:
        raise TooManySpans(total, max_spans)
    spans: list[Span] = []
    rejected: list[Rejected] = []
    index = 0
    for rs in message.resource_spans:
        resource = _proto_attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                try:
                    spans.append(_proto_span(index, span, resource))
                except SpanError as exc:
                    rejected.append(Rejected(index, exc.field, exc.reason))
                index += 1
    return spans, rejected


def _proto_span(index: int, span: Any, resource: Mapping[str, Any]) -> Span:
    start, end = int(span.start_time_unix_nano), int(span.end_time_unix_nano)
    return Span(
        index=index,
        trace_id=_id_bytes(span.trace_id, 16, "traceId"),
        span_id=_id_bytes(span.span_id, 8, "spanId"),
        parent_id=_id_bytes(span.parent_span_id, 8, "parentSpanId")
        if span.parent_span_id
        else None,
        name=span.name,
        start_ns=start,
        end_ns=_end(start, end),
        error=span.status.code == _STATUS_ERROR,
        status_message=span.status.message,
        attrs=_proto_attrs(span.attributes),
        resource=resource,
        events=[(e.name, _proto_attrs(e.attributes)) for e in span.events],
    )


def _proto_attrs(items: Any) -> dict[str, Any]:
    return {kv.key: _proto_value(kv.value, 0) for kv in items}


def _proto_value(v: AnyValue, depth: int) -> Any:
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return (
            [_proto_value(x, depth + 1) for x in v.array_value.values]
            if depth < MAX_DEPTH
            else None
        )
    if kind == "kvlist_value":
        if depth >= MAX_DEPTH:
            return None
        return {kv.key: _proto_value(kv.value, depth + 1) for kv in v.kvlist_value.values}
    return getattr(v, kind)


def _id_bytes(raw: bytes, size: int, name: str) -> str:
    if len(raw) != size or not any(raw):
        raise SpanError(name, f"must be {size} bytes, not all zero")
    return raw.hex()


_MAX_NS = 2**63 - 1  # what a database BIGINT holds


def _end(start: int, end: int) -> int:
    if start <= 0:
        raise SpanError("startTimeUnixNano", "missing")
    if start > _MAX_NS or end > _MAX_NS:
        raise SpanError("endTimeUnixNano" if start <= _MAX_NS else "startTimeUnixNano", "too large")
    return end if end >= start else start


# --- JSON --------------------------------------------------------------------------------


def _get(d: Mapping[str, Any], camel: str, snake: str) -> Any:
    value = d.get(camel)
    return d.get(snake) if value is None else value


def _list(d: Mapping[str, Any], camel: str, snake: str, where: str) -> list[Any]:
    value = _get(d, camel, snake)
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadExport(f"{where}.{camel} must be an array")
    return value


def _dict(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise BadExport(f"{where} must be an object")
    return value


def _from_json(body: bytes, max_spans: int) -> tuple[list[Span], list[Rejected]]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadExport(f"not JSON: {exc}") from None
    data = _dict(data, "the export")
    groups: list[tuple[Mapping[str, Any], list[Any]]] = []
    total = 0
    for i, rs in enumerate(_list(data, "resourceSpans", "resource_spans", "")):
        where = f"resourceSpans[{i}]"
        rs = _dict(rs, where)
        resource = _json_attrs_or_empty(_get(rs, "resource", "resource"))
        for j, ss in enumerate(_list(rs, "scopeSpans", "scope_spans", where)):
            items = _list(_dict(ss, f"{where}.scopeSpans[{j}]"), "spans", "spans", where)
            total += len(items)
            groups.append((resource, items))
    if total > max_spans:
        raise TooManySpans(total, max_spans)
    spans: list[Span] = []
    rejected: list[Rejected] = []
    index = 0
    for attrs, items in groups:
        for item in items:
            try:
                spans.append(_json_span(index, item, attrs))
            except SpanError as exc:
                rejected.append(Rejected(index, exc.field, exc.reason))
            index += 1
    return spans, rejected


def _json_attrs_or_empty(resource: Any) -> dict[str, Any]:
    if not isinstance(resource, dict):
        return {}
    try:
        return _json_attrs(resource.get("attributes"), "resource.attributes")
    except SpanError as exc:
        raise BadExport(f"{exc.field}: {exc.reason}") from None


def _json_span(index: int, span: Any, resource: Mapping[str, Any]) -> Span:
    if not isinstance(span, dict):
        raise SpanError("span", "must be an object")
    parent = _get(span, "parentSpanId", "parent_span_id")
    start = _json_int(_get(span, "startTimeUnixNano", "start_time_unix_nano"), "startTimeUnixNano")
    end = _json_int(_get(span, "endTimeUnixNano", "end_time_unix_nano"), "endTimeUnixNano")
    status = span.get("status") or {}
    if not isinstance(status, dict):
        raise SpanError("status", "must be an object")
    events = []
    for k, e in enumerate(span.get("events") or []):
        if isinstance(e, dict):
            events.append(
                (str(e.get("name", "")), _json_attrs(e.get("attributes"), f"events[{k}]"))
            )
    return Span(
        index=index,
        trace_id=_json_id(_get(span, "traceId", "trace_id"), 16, "traceId"),
        span_id=_json_id(_get(span, "spanId", "span_id"), 8, "spanId"),
        parent_id=_json_id(parent, 8, "parentSpanId") if parent else None,
        name=str(span.get("name", "")),
        start_ns=start,
        end_ns=_end(start, end),
        error=status.get("code") in (_STATUS_ERROR, "STATUS_CODE_ERROR"),
        status_message=str(status.get("message") or ""),
        attrs=_json_attrs(span.get("attributes"), "attributes"),
        resource=resource,
        events=events,
    )


def _json_id(value: Any, size: int, name: str) -> str:
    """Hex as OTLP/JSON writes ids, or base64 as proto3's JSON mapping writes bytes."""
    if not isinstance(value, str) or not value:
        raise SpanError(name, "missing")
    if len(value) == 2 * size and _HEX.match(value):
        raw = bytes.fromhex(value)
    else:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise SpanError(name, f"neither {2 * size} hex digits nor base64") from None
    return _id_bytes(raw, size, name)


def _json_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or value is None:
        raise SpanError(name, "missing")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) <= 20:
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise SpanError(name, "must be an integer of nanoseconds")


def _json_attrs(items: Any, where: str) -> dict[str, Any]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise SpanError(where, "must be an array")
    out: dict[str, Any] = {}
    for kv in items:
        if isinstance(kv, dict) and isinstance(kv.get("key"), str):
            out[kv["key"]] = _json_value(kv.get("value"), 0)
    return out


_JSON_SCALARS = (
    "stringValue",
    "string_value",
    "boolValue",
    "bool_value",
    "doubleValue",
    "double_value",
)


def _json_value(v: Any, depth: int) -> Any:
    if not isinstance(v, dict) or depth > MAX_DEPTH:
        return None
    for key in _JSON_SCALARS:
        if key in v:
            return v[key]
    ival = _get(v, "intValue", "int_value")
    if ival is not None:
        try:
            return int(ival)
        except (TypeError, ValueError):
            return None
    array = _get(v, "arrayValue", "array_value")
    if isinstance(array, dict):
        return [_json_value(x, depth + 1) for x in array.get("values") or []]
    kvlist = _get(v, "kvlistValue", "kvlist_value")
    if isinstance(kvlist, dict):
        values = kvlist.get("values") or []
        return {
            kv["key"]: _json_value(kv.get("value"), depth + 1)
            for kv in values
            if isinstance(kv, dict) and isinstance(kv.get("key"), str)
        }
    return None
