"""OTLP/HTTP traces → ``llm_call`` events, for apps instrumented with OpenTelemetry's
GenAI semantic conventions (``gen_ai.*`` attributes) instead of the chatwatch SDK.

A span counts as a model call when it has ``gen_ai.request.model`` or
``gen_ai.response.model`` and its ``gen_ai.operation.name`` (if any) is not an
embedding. Its event id is derived from the trace and span ids, so an exporter that
retries never counts a call twice. Other spans are ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from chatwatch.events import Event, LLMCall

__all__ = ["decode_request", "spans_to_events"]

_EMBEDDING_OPS = {"embeddings", "embedding"}
_ERROR = {2, "STATUS_CODE_ERROR"}


def decode_request(body: bytes, content_type: str) -> dict[str, Any]:
    """An OTLP export request as a dict, from protobuf (default) or OTLP/JSON."""
    if "json" in content_type:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("OTLP/JSON body must be an object")
        return {"proto": False, **data}
    message = ExportTraceServiceRequest()
    message.ParseFromString(body)
    return {"proto": True, **MessageToDict(message)}


def _hex(value: str, from_proto: bool) -> str:
    if not from_proto:
        return value.lower()
    try:
        return base64.b64decode(value).hex()
    except (binascii.Error, ValueError):
        return value


def _value(v: dict[str, Any]) -> Any:
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        return int(v["intValue"])
    return None


def _attrs(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {a["key"]: _value(a.get("value", {})) for a in items or []}


def _spans(request: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for rs in request.get("resourceSpans", []):
        resource = _attrs(rs.get("resource", {}).get("attributes"))
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                yield resource, span


def _first(attrs: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if attrs.get(key) is not None:
            return attrs[key]
    return None


def _llm_call(resource: dict[str, Any], span: dict[str, Any], proto: bool) -> LLMCall | None:
    a = _attrs(span.get("attributes"))
    model = _first(a, "gen_ai.response.model", "gen_ai.request.model")
    if model is None or a.get("gen_ai.operation.name") in _EMBEDDING_OPS:
        return None
    trace, span_id = _hex(span["traceId"], proto), _hex(span["spanId"], proto)
    start, end = int(span["startTimeUnixNano"]), int(span["endTimeUnixNano"])
    failed = span.get("status", {}).get("code") in _ERROR
    return LLMCall(
        type="llm_call",
        id=f"otel-{trace[:32]}-{span_id[:16]}",
        ts=start / 1e9,
        service=str(resource.get("service.name") or "default")[:64],
        session_id=_first(a, "session.id", "gen_ai.conversation.id"),
        user_id=_first(a, "user.id", "enduser.id"),
        run_id=trace[:64],
        model=str(model)[:128],
        provider=_first(a, "gen_ai.provider.name", "gen_ai.system"),
        input_tokens=int(_first(a, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens") or 0),
        output_tokens=int(
            _first(a, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens") or 0
        ),
        latency_ms=max(end - start, 0) / 1e6,
        success=not failed,
        error_type=(str(a.get("error.type") or "error")[:128]) if failed else None,
    )


def spans_to_events(request: dict[str, Any]) -> list[Event]:
    """Validation errors (pydantic) propagate: a bad span rejects the export, nothing stored."""
    proto = bool(request.get("proto"))
    events: list[Event] = []
    for resource, span in _spans(request):
        call = _llm_call(resource, span, proto)
        if call is not None:
            events.append(call)
    return events
