"""The event schema of :mod:`chatwatch.events` again, as msgspec Structs: ingest's hot path.

msgspec decodes and validates a JSON batch in one pass in C, into Structs with the same
field names, types, defaults and bounds as the pydantic models (a tagged union on
``type``). The pydantic models stay the schema (OpenAPI, docs, every 422 message): this
mirror only ever says "valid, and here are the values" or "not sure". It is never more
lenient, so anything it refuses — a bad event, but also input pydantic takes that this
mirror does not bother with (an ISO date for ``ts``, ``"1"`` for a number, non-ASCII
label values) — goes through pydantic, which accepts it or names every problem. A
hypothesis test (tests/test_events_fast.py) holds the two to the same verdicts and values.

Patterns are those of events.py made strict for Python's ``re``: ``\\A…\\Z`` (``$`` would
let a trailing newline through), ASCII for ``\\w``, lone surrogates refused.

A pattern costs a call of Python's ``re`` per string field (most of the decode's time), so
a plain body — printable ASCII, no backslash, which is what the SDK sends — is decoded
without them and checked whole instead: in such a body no string can hold a control
character, a surrogate or a non-ASCII letter (they would need an escape), which is all
names and texts refuse; and two searches over the body, in C, find any id or label field
whose value holds a character those refuse (a string's quotes are the only quotes in such
a body, so a field's value is the text between them). Any other body is decoded with the
patterns. For a plain body the per-event checks (times, attributes, feedback) and the
gathering of its distinct labels and ids run in C (chatwatch/_batch_check.c, mirroring
:func:`plain_check`): in Python that loop cost about what msgspec's decode does.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from operator import attrgetter
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from chatwatch.events import (
    _TEXT_CONTROL,
    DAY_MS,
    FUTURE_SLACK_S,
    MAX_ATTRIBUTE_VALUE,
    MAX_ATTRIBUTES,
    MAX_TS,
)

__all__ = ["FastEvent", "decode_batch"]

_LABEL = r"\A[A-Za-z0-9_ .:/@+\-]+\Z"
_ID = r"\A[A-Za-z0-9_.:\-]+\Z"
_NAME = r"\A[^\x00-\x1f\x7f-\x9f\ud800-\udfff]+\Z"
_TEXT = r"\A[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]*\Z"

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
LongLabel = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Millis = Annotated[float, msgspec.Meta(ge=0, le=DAY_MS)]
Count = Annotated[int, msgspec.Meta(ge=0, le=100_000_000)]
Similarity = Annotated[float, msgspec.Meta(ge=-1.0, le=1.0)]
Text = Annotated[str, msgspec.Meta(max_length=32_000)]
AttrKey = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Seconds = Annotated[float, msgspec.Meta(ge=0, le=MAX_TS)]
Status = Annotated[int, msgspec.Meta(ge=100, le=599)]
Rating = Annotated[int, msgspec.Meta(ge=1, le=5)]
Cost = Annotated[float, msgspec.Meta(ge=0, le=1_000_000)]


# gc=False: an event holds strings, numbers and a dict of scalars, so it can never be in a
# reference cycle, and the collector need not visit the batches in flight
class _Base(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, kw_only=True, gc=False):
    id: Id
    ts: Seconds
    service: Label = "default"
    session_id: Name | None = None
    user_id: Name | None = None
    user_type: Label | None = None
    attributes: dict[AttrKey, str | int | float | bool] = msgspec.field(default_factory=dict)


class SessionStarted(_Base, tag="session_started", kw_only=True):
    type: ClassVar[str] = "session_started"
    channel: Label = "websocket"


class SessionEnded(_Base, tag="session_ended", kw_only=True):
    type: ClassVar[str] = "session_ended"
    channel: Label | None = None
    reason: Name | None = None


class Turn(_Base, tag="turn", kw_only=True):
    type: ClassVar[str] = "turn"
    run_id: Id | None = None
    sender_type: Label = "user"
    response_time_ms: Millis
    success: bool = True
    error_type: LongLabel | None = None
    cached: bool | None = None
    topic: LongLabel | None = None
    model: LongLabel | None = None
    tokens: Count | None = None
    rag_used: bool = False
    rag_found: bool = False
    input_text: Text | None = None
    output_text: Text | None = None
    status_code: Status | None = None
    llm_calls: Count | None = None
    rag_searches: Count | None = None

    @property
    def effective_run_id(self) -> str:
        return self.run_id or self.id


class LLMCall(_Base, tag="llm_call", kw_only=True):
    type: ClassVar[str] = "llm_call"
    run_id: Id | None = None
    model: LongLabel
    provider: Label | None = None
    input_tokens: Count = 0
    output_tokens: Count = 0
    latency_ms: Millis
    success: bool = True
    error_type: LongLabel | None = None
    cost_usd: Cost | None = None
    kind: Literal["chat", "embedding"] = "chat"
    response_model: Name | None = None


class RAGSearch(_Base, tag="rag_search", kw_only=True):
    type: ClassVar[str] = "rag_search"
    run_id: Id | None = None
    similarity: Similarity | None = None
    top_similarity: Similarity | None = None
    results: Count = 0
    search_time_ms: Millis = 0.0
    cache_hit: bool = False


class CacheLookup(_Base, tag="cache_lookup", kw_only=True):
    type: ClassVar[str] = "cache_lookup"
    run_id: Id | None = None
    hit: bool
    kind: Label = "response"


class Connection(_Base, tag="connection", kw_only=True):
    type: ClassVar[str] = "connection"
    action: Literal["connect", "disconnect", "reconnect"]
    channel: Label = "websocket"


class Feedback(_Base, tag="feedback", kw_only=True):
    type: ClassVar[str] = "feedback"
    run_id: Id | None = None
    rating: Rating | None = None
    thumbs: Literal["up", "down"] | None = None
    comment: Text | None = None


class Escalation(_Base, tag="escalation", kw_only=True):
    type: ClassVar[str] = "escalation"
    run_id: Id | None = None
    reason: Name | None = None


class Message(_Base, tag="message", kw_only=True):
    type: ClassVar[str] = "message"
    sender_type: Label
    text: Text | None = None


class Heartbeat(_Base, tag="heartbeat", kw_only=True):
    type: ClassVar[str] = "heartbeat"
    host: Label
    pid: Annotated[int, msgspec.Meta(ge=0, le=2**32)]
    memory_rss_mb: Annotated[float, msgspec.Meta(ge=0, le=1e9)]
    cpu_percent: Annotated[float, msgspec.Meta(ge=0, le=1e6)] | None = None
    threads: Count | None = None
    connections: Count | None = None
    queue_depth: Count = 0
    dropped: Count = 0
    memory_available_mb: Annotated[float, msgspec.Meta(ge=0, le=1e9)] | None = None
    started_at: Seconds | None = None
    interval_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 15.0


FastEvent = (
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
    | Heartbeat
)
_DECODER = msgspec.json.Decoder(list[FastEvent])  # lengths and bounds; no patterns


# bytes of a plain body: printable ASCII but the backslash, and \t \n \r (only ever
# between tokens: JSON strings cannot hold them raw)
_PLAIN = bytes(sorted({*range(0x20, 0x7F), 9, 10, 13} - {0x5C}))
_LABEL_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_ .:/@+-"
_ID_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-"
_LABEL_FIELDS = (
    *("service", "user_type", "channel", "sender_type", "error_type", "topic"),
    *("model", "provider", "kind", "host"),
)
_ID_FIELDS = ("id", "run_id")
_NAME_FIELDS = ("session_id", "user_id", "reason", "response_model")
_TEXT_FIELDS = ("input_text", "output_text", "text", "comment")
_PATTERNS = {
    **dict.fromkeys(_LABEL_FIELDS, re.compile(_LABEL)),
    **dict.fromkeys(_ID_FIELDS, re.compile(_ID)),
    **dict.fromkeys(_NAME_FIELDS, re.compile(_NAME)),
    **dict.fromkeys(_TEXT_FIELDS, re.compile(_TEXT)),
}
_ATTR_KEY = re.compile(_LABEL)
_KINDS: tuple[type[msgspec.Struct], ...] = FastEvent.__args__
# each Struct's string fields, with the pattern each must match
_STRINGS: dict[type, tuple[tuple[str, re.Pattern[str]], ...]] = {
    kind: tuple((f, _PATTERNS[f]) for f in kind.__struct_fields__ if f in _PATTERNS)
    for kind in _KINDS
}


def _getter(
    kind: type[msgspec.Struct], fields: tuple[str, ...]
) -> Callable[[Any], tuple[Any, ...]]:
    """The values of ``fields`` that ``kind`` has, as one tuple, read in C."""
    names = [f for f in kind.__struct_fields__ if f in fields]
    return attrgetter(*names, names[0])  # two names at least: attrgetter gives a tuple


# (label fields, id fields) of each Struct
_GETTERS = {kind: (_getter(kind, _LABEL_FIELDS), _getter(kind, _ID_FIELDS)) for kind in _KINDS}


def decode_batch(
    body: bytes, *, max_age_s: float | None = None, now: float = 0.0
) -> list[FastEvent] | None:
    """The batch's events when they are certainly valid (as ``parse_events`` with the
    same ``max_age_s`` and ``now`` would find them); None: ask pydantic."""
    try:
        batch = _DECODER.decode(body)
    except (msgspec.DecodeError, RecursionError):  # msgspec.ValidationError included
        return None
    lo, hi = (now - max_age_s, now + FUTURE_SLACK_S) if max_age_s is not None else (0.0, MAX_TS)
    if not plain(body):  # escapes or non-ASCII: every string checked alone
        return batch if _escaped_ok(batch, lo, hi) else None
    ok = _CHECK(batch, lo, hi) if _CHECK is not None else NotImplemented
    if ok is NotImplemented:
        ok = plain_check(batch, lo, hi)
    return batch if ok else None


def plain(body: bytes) -> bool:
    """Whether a body msgspec decoded is plain (only ``_PLAIN`` bytes). JSON takes no raw
    control character in a string and no whitespace but space, tab, newline and return
    between tokens (msgspec refuses the rest), so what is left to find is a byte past
    ASCII, a backslash or DEL: ``isascii`` reads eight bytes at a time and ``in`` is a
    memchr, where ``translate(None, _PLAIN)`` cost ~5 instructions per byte, a tenth of
    decoding and preparing a batch."""
    return body.isascii() and b"\\" not in body and b"\x7f" not in body


def plain_check(batch: list[FastEvent], lo: float, hi: float) -> bool:
    """Whether every event of a plain body passes the checks msgspec's types do not make
    (times, attributes, feedback) and its labels and ids hold only the characters their
    fields take (each distinct value once, every character in C). The definition the
    compiled check (chatwatch/_batch_check.c) mirrors, and what runs where it is not built."""
    labels: set[Any] = set()
    ids: set[Any] = set()
    getters = _GETTERS
    for e in batch:
        if not _event_ok(e, lo, hi):
            return False
        of_labels, of_ids = getters[type(e)]
        labels.update(of_labels(e))
        ids.update(of_ids(e))
    labels.discard(None)
    ids.discard(None)
    return not (
        "".join(labels).encode().translate(None, _LABEL_CHARS)
        or "".join(ids).encode().translate(None, _ID_CHARS)
    )


def _escaped_ok(batch: list[FastEvent], lo: float, hi: float) -> bool:
    return all(_event_ok(e, lo, hi) and _strings_ok(e) for e in batch)


def _event_ok(e: FastEvent, lo: float, hi: float) -> bool:
    """What msgspec's types do not say of an event: its time within [lo, hi], its
    attributes bounded, a feedback's rating or thumbs."""
    if not lo <= e.ts <= hi or (e.attributes and not _bounded(e.attributes)):
        return False
    return not (type(e) is Feedback and e.rating is None and e.thumbs is None)


def _load_check() -> Callable[[list[FastEvent], float, float], Any] | None:
    """The compiled per-event checks, set up with this module's fields; None when the
    extension was not built or ``CHATWATCH_PURE_PYTHON`` is set."""
    if os.environ.get("CHATWATCH_PURE_PYTHON"):
        return None
    try:
        from chatwatch import _batch_check
    except ImportError:
        return None
    fields = {
        kind: (_fields_of(kind, _LABEL_FIELDS), _fields_of(kind, _ID_FIELDS)) for kind in _KINDS
    }
    _batch_check.setup(fields, Feedback, _bounded, _LABEL_CHARS, _ID_CHARS)
    check: Callable[[list[FastEvent], float, float], Any] = _batch_check.check
    return check


def _fields_of(kind: type[msgspec.Struct], fields: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f for f in kind.__struct_fields__ if f in fields)


def _strings_ok(e: FastEvent) -> bool:
    """Every string field of an event matches its pattern (a body with escapes or
    non-ASCII text, which the whole-body searches cannot judge)."""
    for name, pattern in _STRINGS[type(e)]:
        value = getattr(e, name)
        if value is not None and pattern.search(value) is None:
            return False
    return True


def _bounded(attributes: dict[str, Any]) -> bool:
    if len(attributes) > MAX_ATTRIBUTES:
        return False
    for key, value in attributes.items():
        if _ATTR_KEY.search(key) is None:
            return False
        if isinstance(value, str):
            if len(value) > MAX_ATTRIBUTE_VALUE or _TEXT_CONTROL.search(value):
                return False
        elif isinstance(value, float) and not math.isfinite(value):
            return False
    return True


_CHECK = _load_check()
