"""The one event schema every input path maps into.

Unknown fields are rejected (a typo must not silently vanish); free-form context goes in
the bounded ``attributes`` map. ``ts`` is taken as Unix seconds (a number, as the SDK
sends it) or an ISO 8601 date-time (a naive one is read as UTC), and held as Unix seconds:
numbers, the ingest hot path, are validated without a Python call.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetPydanticSchema,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

__all__ = [
    "EVENT_TYPES",
    "FUTURE_SLACK_S",
    "CacheLookup",
    "Connection",
    "Escalation",
    "Event",
    "Feedback",
    "Heartbeat",
    "LLMCall",
    "Label",
    "LongLabel",
    "Message",
    "Name",
    "RAGSearch",
    "SessionEnded",
    "SessionStarted",
    "Text",
    "Turn",
    "error_details",
    "event_list_adapter",
    "parse_events",
    "text_problem",
]

MAX_ATTRIBUTES = 16
MAX_ATTRIBUTE_VALUE = 256
MAX_LOC = 64  # characters of a field name quoted back in an error
MAX_MSG = 200  # and of its message (which may quote a type tag)
DAY_MS = 86_400_000.0


MAX_TS = 32_503_680_000.0  # 3000-01-01: larger numbers are read as milliseconds
FUTURE_SLACK_S = 300.0  # clocks run a little ahead: events up to 5 minutes ahead are taken

# What a string may hold (docs/events.md). Every pattern refuses NUL, the other C0
# controls, DEL and the C1 controls: PostgreSQL cannot store a NUL, and a CR/LF in a
# label splits log lines and e-mail headers. Label values (service, model, topic...)
# become Prometheus labels, dashboard filters and alert text, so they keep to letters,
# digits, space and ``_ . : - / @ +``. Free text keeps tab, newline and carriage return.
LABEL_PATTERN = r"^[\w .:/@+\-]+$"
ID_PATTERN = r"^[A-Za-z0-9_.:\-]+$"
NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]+$"
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
PATTERN_MESSAGES = {
    LABEL_PATTERN: "may hold only letters, digits, space and _ . : - / @ +",
    ID_PATTERN: "may hold only ASCII letters, digits and _ . : -",
    NAME_PATTERN: "must not contain control characters",
    TEXT_PATTERN: "must not contain control characters other than tab and newline",
}


def _epoch(value: datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _timestamp_schema(_source: Any, _handler: GetCoreSchemaHandler) -> CoreSchema:
    """A number of seconds as it is; anything else (an ISO string, a datetime, a number of
    milliseconds) through pydantic's datetime parsing, then to seconds."""
    return core_schema.union_schema(
        [
            core_schema.float_schema(ge=0, le=MAX_TS, allow_inf_nan=False, strict=True),
            core_schema.no_info_after_validator_function(_epoch, core_schema.datetime_schema()),
        ],
        mode="left_to_right",
        custom_error_type="timestamp",
        custom_error_message="Input should be Unix seconds or an ISO 8601 date-time",
    )


_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _bounded_attributes(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_ATTRIBUTES:
        raise ValueError(f"at most {MAX_ATTRIBUTES} attributes")
    for key, item in value.items():
        if isinstance(item, str):
            if len(item) > MAX_ATTRIBUTE_VALUE:
                raise ValueError(f"attribute {key} longer than {MAX_ATTRIBUTE_VALUE} characters")
            if _TEXT_CONTROL.search(item):
                raise ValueError(f"attribute {key} {PATTERN_MESSAGES[TEXT_PATTERN]}")
    return value


def text_problem(value: str, pattern: str = LABEL_PATTERN, max_length: int = 64) -> str | None:
    """Why ``value`` may not be stored as a string of the kind ``pattern`` names (None if
    it may): the same rules as the event schema, for input mapped outside it (OTLP)."""
    if not value:
        return "must not be empty" if pattern != TEXT_PATTERN else None
    if len(value) > max_length:
        return f"longer than {max_length} characters"
    if re.fullmatch(pattern, value) is None:
        return PATTERN_MESSAGES[pattern]
    return None


Timestamp = Annotated[float, GetPydanticSchema(_timestamp_schema)]
# Ids the client makes (event ids, run ids): ASCII, 64 characters at most.
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)]
# Ids that may come from anywhere (session_id, user_id) and short free names (reasons).
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=NAME_PATTERN)]
# Label values: service, user_type, channel, sender_type, kind, provider (64 characters)...
Label = Annotated[str, Field(min_length=1, max_length=64, pattern=LABEL_PATTERN)]
# ... and model, topic, error_type (128 characters).
LongLabel = Annotated[str, Field(min_length=1, max_length=128, pattern=LABEL_PATTERN)]
Millis = Annotated[float, Field(ge=0, le=DAY_MS)]
Count = Annotated[int, Field(ge=0, le=100_000_000)]
Similarity = Annotated[float, Field(ge=-1.0, le=1.0)]
Text = Annotated[str, Field(max_length=32_000, pattern=TEXT_PATTERN)]
AttrKey = Annotated[str, Field(min_length=1, max_length=64, pattern=LABEL_PATTERN)]
AttrValue = str | int | float | bool
Attributes = Annotated[dict[AttrKey, AttrValue], AfterValidator(_bounded_attributes)]


class _NoAttributes(dict[str, Any]):
    """The default ``attributes``: empty, read-only and hashable, so pydantic shares one
    instance instead of copying a fresh dict into every event (a third of parse time)."""

    def __hash__(self) -> int:  # type: ignore[override]
        return 0

    def _read_only(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("an event's default attributes are read-only")

    __setitem__ = __delitem__ = update = setdefault = pop = popitem = clear = _read_only  # type: ignore[assignment]
    __ior__ = _read_only  # type: ignore[assignment]


NO_ATTRIBUTES: dict[str, Any] = _NoAttributes()


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Id
    ts: Timestamp
    service: Label = "default"
    session_id: Name | None = None
    user_id: Name | None = None
    user_type: Label | None = None
    attributes: Attributes = NO_ATTRIBUTES


class SessionStarted(_Base):
    type: Literal["session_started"]
    channel: Label = "websocket"


class SessionEnded(_Base):
    type: Literal["session_ended"]
    channel: Label | None = None
    reason: Name | None = None


class Turn(_Base):
    """One user message answered by the assistant: a LangSmith-style run."""

    type: Literal["turn"]
    run_id: Id | None = None
    sender_type: Label = "user"
    response_time_ms: Millis
    success: bool = True
    error_type: LongLabel | None = None
    cached: bool | None = None  # None: the app did not record whether the cache answered
    topic: LongLabel | None = None
    model: LongLabel | None = None
    tokens: Count | None = None
    rag_used: bool = False
    rag_found: bool = False
    input_text: Text | None = None
    output_text: Text | None = None
    # the HTTP status answered (a 4xx on a successful turn is a client error)
    status_code: Annotated[int, Field(ge=100, le=599)] | None = None
    # how many llm_call / rag_search events the turn recorded itself (None: not said)
    llm_calls: Count | None = None
    rag_searches: Count | None = None

    @property
    def effective_run_id(self) -> str:
        return self.run_id or self.id


class LLMCall(_Base):
    type: Literal["llm_call"]
    run_id: Id | None = None
    model: LongLabel
    provider: Label | None = None
    input_tokens: Count = 0
    output_tokens: Count = 0
    latency_ms: Millis
    success: bool = True
    error_type: LongLabel | None = None
    cost_usd: Annotated[float, Field(ge=0, le=1_000_000)] | None = None
    # "embedding" calls are counted and priced apart from chat (generation) calls
    kind: Literal["chat", "embedding"] = "chat"
    response_model: Name | None = None  # the model that answered; calls group by ``model``


class RAGSearch(_Base):
    type: Literal["rag_search"]
    run_id: Id | None = None
    similarity: Similarity | None = None
    top_similarity: Similarity | None = None
    results: Count = 0
    search_time_ms: Millis = 0.0
    cache_hit: bool = False


class CacheLookup(_Base):
    type: Literal["cache_lookup"]
    run_id: Id | None = None
    hit: bool
    kind: Label = "response"


class Connection(_Base):
    type: Literal["connection"]
    action: Literal["connect", "disconnect", "reconnect"]
    channel: Label = "websocket"


class Feedback(_Base):
    type: Literal["feedback"]
    run_id: Id | None = None
    rating: Annotated[int, Field(ge=1, le=5)] | None = None
    thumbs: Literal["up", "down"] | None = None
    comment: Text | None = None

    @model_validator(mode="after")
    def _one_signal(self) -> Feedback:
        if self.rating is None and self.thumbs is None:
            raise ValueError("feedback needs a rating (1-5) or thumbs (up/down)")
        return self


class Escalation(_Base):
    type: Literal["escalation"]
    run_id: Id | None = None
    reason: Name | None = None


class Message(_Base):
    type: Literal["message"]
    sender_type: Label
    text: Text | None = None


class Heartbeat(_Base):
    """The app's own process, sent by the SDK every 15 s: what the FastAPI guide's ``system``
    section reports, per instance (host and pid), and proof that a quiet app is alive."""

    type: Literal["heartbeat"]
    host: Label
    pid: Annotated[int, Field(ge=0, le=2**32)]
    memory_rss_mb: Annotated[float, Field(ge=0, le=1e9)]
    cpu_percent: Annotated[float, Field(ge=0, le=1e6)] | None = None
    threads: Count | None = None
    connections: Count | None = None  # open network connections, when the OS tells
    queue_depth: Count = 0  # events waiting in the SDK's queue
    dropped: Count = 0  # events the SDK dropped since the process started
    memory_available_mb: Annotated[float, Field(ge=0, le=1e9)] | None = None
    started_at: Timestamp | None = None
    interval_s: Annotated[float, Field(gt=0, le=300)] = 15.0


Event = Annotated[
    SessionStarted
    | SessionEnded
    | Turn
    | LLMCall
    | RAGSearch
    | CacheLookup
    | Connection
    | Feedback
    | Escalation
    | Message
    | Heartbeat,
    Field(discriminator="type"),
]

EVENT_TYPES: tuple[str, ...] = (
    "session_started",
    "session_ended",
    "turn",
    "llm_call",
    "rag_search",
    "cache_lookup",
    "connection",
    "feedback",
    "escalation",
    "message",
    "heartbeat",
)

event_list_adapter: TypeAdapter[list[Event]] = TypeAdapter(list[Event])


def parse_events(
    payload: bytes | list[dict[str, Any]],
    *,
    max_age_s: float | None = None,
    now: float | None = None,
) -> list[Event]:
    """Validate a batch; raises pydantic.ValidationError naming index and field.

    With ``max_age_s``, an event older than that or more than five minutes ahead of
    ``now`` is refused too (``ts`` named), as the server's ingest does; the Store's own
    ``ingest`` takes any time (the path for importing older history).
    """
    if isinstance(payload, bytes | bytearray):
        events = event_list_adapter.validate_json(payload)
    else:
        events = event_list_adapter.validate_python(payload)
    if max_age_s is not None:
        check_times(events, max_age_s, time.time() if now is None else now)
    return events


def check_times(events: list[Event], max_age_s: float, now: float) -> None:
    """Raise a ValidationError naming ``ts`` of every event outside
    [now - max_age_s, now + 5 minutes]."""
    lo, hi = now - max_age_s, now + FUTURE_SLACK_S
    bad = [i for i, e in enumerate(events) if not lo <= e.ts <= hi]
    if not bad:
        return
    message = f"must lie between {_iso(lo)} (the event retention) and {_iso(hi)} (now + 5 minutes)"
    raise ValidationError.from_exception_data(
        "events",
        [
            {
                "type": PydanticCustomError("timestamp_range", message),
                "loc": (i, events[i].type, "ts"),
                "input": events[i].ts,
            }
            for i in bad
        ],
    )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def error_details(exc: ValidationError) -> list[dict[str, Any]]:
    """One entry per problem: the event's index in the batch and the field at fault."""
    details = []
    for err in exc.errors(include_url=False, include_input=False):
        # a location may hold a key the client made up: a bounded copy of it
        loc = [p if isinstance(p, int) else str(p)[:MAX_LOC] for p in err["loc"]]
        msg = err["msg"]
        if err["type"] == "string_pattern_mismatch":
            pattern = str(err.get("ctx", {}).get("pattern", ""))
            msg = "String " + PATTERN_MESSAGES.get(pattern, f"should match {pattern}")
        index = loc[0] if loc and isinstance(loc[0], int) else None
        path = [str(p) for p in loc[2:]] if len(loc) > 2 else []
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            path = ["type"]
        field = ".".join(path) or None
        details.append({"index": index, "field": field, "loc": loc, "msg": msg[:MAX_MSG]})
    return details
