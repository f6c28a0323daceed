"""One span → what chatwatch keeps of it: its role in the trace and its own event.

A span is a model call (GenAI ``gen_ai.*`` or OpenInference LLM/EMBEDDING), a retrieval
(OpenInference RETRIEVER), a root, or context (a span carrying ``session.id``/``user.id``).
Other spans are not kept. Every field is checked here, so a bad span is rejected in the
export that brought it, before anything is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from chatwatch.events import PATTERN_MESSAGES, LLMCall, RAGSearch
from chatwatch.integrations.otlp.decode import Span, SpanError
from chatwatch.integrations.otlp.fields import count, error_label, json_object, text
from chatwatch.integrations.otlp.genai import Call, genai_call
from chatwatch.integrations.otlp.openinference import oi_call, oi_kind, oi_retrieval

__all__ = ["Kept", "RootInfo", "classify", "event_id"]

SESSION_KEYS = (
    "session.id",
    "gen_ai.conversation.id",
    "traceloop.association.properties.session_id",
)
USER_KEYS = ("user.id", "enduser.id", "traceloop.association.properties.user_id")
_MAX_METADATA = 8


@dataclass(frozen=True)
class RootInfo:
    service: str
    failed: bool
    error_type: str | None


@dataclass(frozen=True)
class Kept:
    trace_id: str
    span_id: str
    parent_id: str | None
    role: str  # llm, embedding, rag, context
    model: str | None
    start_ns: int
    end_ns: int
    session_id: str | None
    user_id: str | None
    event: LLMCall | RAGSearch | None  # without session and user: the trace gives those
    root: RootInfo | None


def event_id(trace_id: str, span_id: str) -> str:
    return f"otel-{trace_id}-{span_id}"


def classify(span: Span) -> Kept | None:
    """What to keep of ``span`` (None: nothing); raises SpanError or ValidationError."""
    a = span.attrs
    service = text(span.resource, "service.name", limit=64) or "default"
    session = text(a, *SESSION_KEYS, limit=128)
    user = text(a, *USER_KEYS, limit=128)
    failed, error = _status(span)
    kind = oi_kind(a)
    call = oi_call(a, kind) if kind else genai_call(a)
    event: LLMCall | RAGSearch | None = None
    role = "context"
    if call is not None:
        role = call.kind if call.kind == "embedding" else "llm"
        event = _llm_call(span, call, service, failed, error)
    elif kind == "RETRIEVER":
        role = "rag"
        event = _rag_search(span, service)
    root = RootInfo(service, failed or _http_failed(a), error) if span.parent_id is None else None
    if event is None and root is None and session is None and user is None:
        return None
    return Kept(
        trace_id=span.trace_id,
        span_id=span.span_id,
        parent_id=span.parent_id,
        role=role,
        model=call.model if call else None,
        start_ns=span.start_ns,
        end_ns=span.end_ns,
        session_id=session,
        user_id=user,
        event=event,
        root=root,
    )


def _status(span: Span) -> tuple[bool, str | None]:
    if not span.error:
        return False, None
    raw = text(span.attrs, "error.type", limit=256)
    for name, attrs in span.events:
        if raw is None and name == "exception":
            raw = text(attrs, "exception.type", limit=256)
    if raw is None and span.status_message:
        head = span.status_message.split(":", 1)[0]
        raw = head if head.isidentifier() else None
    return True, error_label(raw) if raw else "error"


def _http_failed(a: Mapping[str, Any]) -> bool:
    status = count(a, "http.response.status_code", "http.status_code")
    return status is not None and status >= 500


def _attributes(span: Span, call: Call | None) -> dict[str, Any]:
    """Extras kept on the event: cache reads and writes, OpenInference metadata and tags
    (bounded)."""
    out: dict[str, Any] = {}
    if call is not None and call.cache_read_tokens:
        out["cache_read_input_tokens"] = call.cache_read_tokens
    if call is not None and call.cache_write_tokens:
        out["cache_write_input_tokens"] = call.cache_write_tokens
    metadata = json_object(span.attrs, "metadata")
    for key, value in list(metadata.items())[:_MAX_METADATA]:
        name = f"metadata.{key}"[:64]
        if isinstance(value, str):
            value = text({name: value}, name, limit=256)
        if isinstance(value, str | int | float | bool):
            out[name] = value
    tags = span.attrs.get("tag.tags")
    if isinstance(tags, list):
        joined = text(
            {"tag.tags": ",".join(t for t in tags if isinstance(t, str))}, "tag.tags", limit=256
        )
        if joined:
            out["tags"] = joined
    return out


def _llm_call(span: Span, call: Call, service: str, failed: bool, error: str | None) -> LLMCall:
    try:
        return LLMCall(
            type="llm_call",
            id=event_id(span.trace_id, span.span_id),
            ts=span.start_ns / 1e9,
            service=service,
            run_id=span.trace_id,
            model=call.model,
            response_model=call.response_model,
            provider=call.provider,
            kind=call.kind,
            input_tokens=call.input_tokens or 0,
            output_tokens=call.output_tokens or 0,
            latency_ms=min((span.end_ns - span.start_ns) / 1e6, 86_400_000.0),
            success=not failed,
            error_type=error,
            attributes=_attributes(span, call),
        )
    except ValidationError as exc:
        raise _named(exc) from None


def _rag_search(span: Span, service: str) -> RAGSearch:
    found = oi_retrieval(span.attrs)
    try:
        return RAGSearch(
            type="rag_search",
            id=event_id(span.trace_id, span.span_id),
            ts=span.start_ns / 1e9,
            service=service,
            run_id=span.trace_id,
            similarity=found.similarity,
            top_similarity=found.top_similarity,
            results=found.results,
            search_time_ms=min((span.end_ns - span.start_ns) / 1e6, 86_400_000.0),
            attributes=_attributes(span, None),
        )
    except ValidationError as exc:
        raise _named(exc) from None


def _named(exc: ValidationError) -> SpanError:
    """The first problem, named as the event schema names it (the event's field)."""
    err = exc.errors(include_url=False, include_input=False)[0]
    msg = err["msg"]
    if err["type"] == "string_pattern_mismatch":
        pattern = str(err.get("ctx", {}).get("pattern", ""))
        msg = PATTERN_MESSAGES.get(pattern, msg)
    return SpanError(".".join(str(p) for p in err["loc"]) or "span", msg[:200])
