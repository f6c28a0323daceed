"""OpenTelemetry traces (OTLP/HTTP, protobuf or JSON) → chatwatch events.

For apps instrumented with OpenTelemetry instead of the chatwatch SDK: the GenAI semantic
conventions (``gen_ai.*``: the official openai-v2 instrumentation, OpenLLMetry) and
OpenInference (Arize's instrumentations for OpenAI, LangChain, LlamaIndex...). One export
goes through decode (bounded, counted before mapping) → classify (each span checked on
its own: a bad span is rejected alone, OTLP partial success) → traces (spans kept across
exports, duplicates counted once, one turn per trace). See docs/opentelemetry.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import ValidationError

from chatwatch.events import FUTURE_SLACK_S
from chatwatch.integrations.otlp.classify import Kept, classify
from chatwatch.integrations.otlp.decode import (
    BadExport,
    Rejected,
    SpanError,
    TooManySpans,
    decode_export,
)
from chatwatch.integrations.otlp.traces import (
    TraceSettings,
    flush_pending,
    has_kept_spans,
    store_kept,
)
from chatwatch.store import Store

__all__ = [
    "BadExport",
    "ExportResult",
    "Rejected",
    "TooManySpans",
    "TraceSettings",
    "flush_pending",
    "has_kept_spans",
    "ingest_export",
]

_MESSAGES = 5  # rejected spans named in the partial-success message


@dataclass
class ExportResult:
    spans: int
    events: int
    rejected: list[Rejected] = field(default_factory=list)

    def error_message(self) -> str:
        if not self.rejected:
            return ""
        named = "; ".join(r.message() for r in self.rejected[:_MESSAGES])
        more = len(self.rejected) - _MESSAGES
        return f"{len(self.rejected)} spans rejected: {named}" + (
            f" (+{more} more)" if more > 0 else ""
        )


def _check_time(ts: float, lo: float, hi: float) -> None:
    if not lo <= ts <= hi:
        iso = [datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds") for t in (lo, hi)]
        raise SpanError(
            "startTimeUnixNano",
            f"must lie between {iso[0]} (the event retention) and {iso[1]} (now + 5 minutes)",
        )


def ingest_export(
    store: Store,
    body: bytes,
    *,
    json_body: bool,
    max_spans: int,
    settings: TraceSettings | None = None,
    now: float | None = None,
    max_age_s: float | None = None,
) -> ExportResult:
    """Decode, map and store one export (blocking: run it off the event loop).

    Raises BadExport (400) or TooManySpans (413); a span that fails its checks is left out
    and listed in the result, the others are stored. With ``max_age_s``, a span that
    started before ``now - max_age_s`` or more than five minutes after ``now`` is one.
    """
    now = time.time() if now is None else now
    spans, rejected = decode_export(body, json_body, max_spans)
    total = len(spans) + len(rejected)
    kept: list[Kept] = []
    for span in spans:
        try:
            if max_age_s is not None:
                _check_time(span.start_ns / 1e9, now - max_age_s, now + FUTURE_SLACK_S)
            item = classify(span)
        except SpanError as exc:
            rejected.append(Rejected(span.index, exc.field, exc.reason))
            continue
        except ValidationError as exc:  # a field the event schema refused
            rejected.append(Rejected(span.index, "span", str(exc.errors()[0]["msg"])))
            continue
        if item is not None:
            kept.append(item)
    rejected.sort(key=lambda r: r.index)
    events = store_kept(store, kept, now, settings or TraceSettings())
    return ExportResult(spans=total, events=events, rejected=rejected)
