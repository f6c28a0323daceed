"""The msgspec mirror of the event schema (chatwatch.events_fast) against the pydantic
models: whatever it accepts, pydantic accepts with the same values, rows and rollup
increments; whatever pydantic refuses, it refuses; and it does accept ordinary events
(else the server would always take the slow path)."""

from __future__ import annotations

import json
import math
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chatwatch import events_fast
from chatwatch.events import EVENT_TYPES, error_details, parse_events
from chatwatch.events_fast import decode_batch
from chatwatch.server.parse_pool import InvalidBatch, parse_and_prepare
from chatwatch.store.writer import Prepared, prepare

NOW = 1_790_000_000.0
MAX_AGE = 30 * 86400.0
FIELDS: dict[str, tuple[str, ...]] = {
    "session_started": ("channel",),
    "session_ended": ("channel", "reason"),
    "turn": (
        "run_id",
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
    "llm_call": (
        "run_id",
        "model",
        "provider",
        "input_tokens",
        "output_tokens",
        "latency_ms",
        "success",
        "error_type",
        "cost_usd",
        "kind",
        "response_model",
    ),
    "rag_search": (
        "run_id",
        "similarity",
        "top_similarity",
        "results",
        "search_time_ms",
        "cache_hit",
    ),
    "cache_lookup": ("run_id", "hit", "kind"),
    "connection": ("action", "channel"),
    "feedback": ("run_id", "rating", "thumbs", "comment"),
    "escalation": ("run_id", "reason"),
    "message": ("sender_type", "text"),
    "heartbeat": (
        "host",
        "pid",
        "memory_rss_mb",
        "cpu_percent",
        "threads",
        "connections",
        "queue_depth",
        "dropped",
        "memory_available_mb",
        "started_at",
        "interval_s",
    ),
}
REQUIRED = {
    "turn": ("response_time_ms",),
    "llm_call": ("model", "latency_ms"),
    "cache_lookup": ("hit",),
    "connection": ("action",),
    "message": ("sender_type",),
    "heartbeat": ("host", "pid", "memory_rss_mb"),
}
BOOLS = {"success", "cached", "rag_used", "rag_found", "cache_hit", "hit"}
COUNTS = {"tokens", "input_tokens", "output_tokens", "results", "llm_calls", "rag_searches"}
COUNTS |= {"threads", "connections", "queue_depth", "dropped", "pid"}
MILLIS = {"response_time_ms", "latency_ms", "search_time_ms", "memory_rss_mb", "cpu_percent"}
MILLIS |= {"memory_available_mb", "interval_s"}
CHOICES = {
    "action": ["connect", "disconnect", "reconnect", "close"],
    "thumbs": ["up", "down", "sideways"],
    "kind": ["chat", "embedding", "response", "vector"],
}

# strings near every rule: the safe label set, controls, newlines, non-ASCII, lengths
_tricky = st.sampled_from(
    [
        "a",
        "gpt-4o",
        "a b",
        "x\n",
        "\n",
        "tab\t",
        "nul\x00",
        "\x7f",
        "\x85",
        "é",
        "ß",
        "名前",
        "a\u0301",
        "\ud800",
        "",
        " ",
        "a/b@c+d",
        "a:b.c_d",
        "'",
        '"',
        "\\",
        "<b>",
        # printable ASCII that ids and labels refuse, JSON's own punctuation too: in a plain
        # body these are found by the decoder's whole-batch character check
        "a,b",
        "{x}",
        "[1]",
        "a?b#",
        "x:y,",
    ]
)
_strings = st.one_of(
    _tricky,
    st.text(max_size=8),
    st.text(alphabet="ab-_.:/ ", min_size=1, max_size=3).map(lambda s: s * 30),
    st.integers(60, 70).map(lambda n: "x" * n),
    st.integers(125, 131).map(lambda n: "y" * n),
)
_numbers = st.one_of(
    st.integers(-5, 10),
    st.integers(-(2**40), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [
            0,
            0.0,
            -0.0,
            1.0,
            86_400_000,
            86_400_000.5,
            100_000_000,
            100_000_001,
            1.5,
            -1.0,
            -1.0000001,
            599,
            600,
            99,
            5,
            6,
            0.9999999,
        ]
    ),
)
_anything = st.one_of(_strings, _numbers, st.booleans(), st.none(), st.just([]), st.just({}))


def _ts() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.floats(NOW - MAX_AGE - 100, NOW + 400),
        st.integers(int(NOW - MAX_AGE - 100), int(NOW + 400)),
        st.sampled_from(
            [
                NOW,
                NOW - MAX_AGE,
                NOW + 300,
                NOW + 300.001,
                NOW * 1000,
                "2026-09-21T14:03:20Z",
                "2026-09-21T14:03:20",
                "soon",
                None,
                True,
            ]
        ),
    )


def _value(name: str) -> st.SearchStrategy[Any]:
    if name in BOOLS:
        return st.one_of(st.booleans(), st.booleans(), _anything)
    if name in COUNTS:
        return st.one_of(st.integers(-2, 200), _anything)
    if name in MILLIS:
        return st.one_of(st.floats(0, 5000), _numbers, _anything)
    if name in CHOICES:
        return st.one_of(st.sampled_from(CHOICES[name]), _anything)
    if name in ("similarity", "top_similarity", "cost_usd"):
        return st.one_of(st.floats(-1.5, 1.5), _numbers, _anything)
    if name in ("rating", "status_code"):
        return st.one_of(st.integers(0, 700), _anything)
    return st.one_of(_strings, _strings, _anything)


_label_chars = st.sampled_from("abcXYZ019_ .:/@+-")
_LABELS = {"service", "user_type", "sender_type", "channel", "provider", "model", "topic", "host"}
_LABELS |= {"error_type"}
_IDS = {"run_id"}


def _valid(name: str) -> st.SearchStrategy[Any]:
    """A value the schema takes (mostly): so that whole batches pass often enough."""
    if name in BOOLS:
        return st.booleans()
    if name in COUNTS:
        return st.integers(0, 10_000)
    if name in MILLIS:
        return st.one_of(st.floats(0, 86_400_000), st.integers(0, 86_400_000))
    if name == "kind":
        return st.sampled_from(["chat", "embedding"])
    if name in CHOICES:
        return st.sampled_from(CHOICES[name][:-1])
    if name in ("similarity", "top_similarity"):
        return st.floats(-1, 1)
    if name == "cost_usd":
        return st.floats(0, 10)
    if name == "started_at":
        return st.floats(NOW - 9e5, NOW)
    if name == "interval_s":
        return st.floats(0.5, 300)
    if name == "rating":
        return st.integers(1, 5)
    if name == "status_code":
        return st.integers(100, 599)
    if name in _IDS:
        return st.text("abc019_.:-", min_size=1, max_size=64)
    if name in _LABELS:
        return st.one_of(
            st.text(_label_chars, min_size=1, max_size=64), st.sampled_from(["é", "名"])
        )
    # names, reasons, texts: any character but controls (those are drawn as wild values)
    return st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=40)


@st.composite
def events(draw: st.DrawFn, valid_only: bool = False) -> dict[str, Any]:
    kind = draw(st.sampled_from(EVENT_TYPES))
    event: dict[str, Any] = {"type": kind, "id": draw(st.text("abc0-.:", min_size=1, max_size=9))}
    if valid_only:
        event["ts"] = draw(st.floats(NOW - 3600, NOW))
        for name in REQUIRED.get(kind, ()):
            event[name] = _plain(name)
        if kind == "feedback":
            event["rating"] = draw(st.integers(1, 5))
        return event
    wild = draw(st.integers(1, 12))  # one field in ``wild`` is drawn from anything
    event["ts"] = draw(_ts() if draw(st.integers(0, wild)) == 0 else st.floats(NOW - 9e5, NOW))
    for name in ("service", "session_id", "user_id", "user_type"):
        if draw(st.booleans()):
            event[name] = draw(_strings if draw(st.integers(0, wild)) == 0 else _valid(name))
    for name in FIELDS[kind]:
        required = name in REQUIRED.get(kind, ()) or (name == "rating" and draw(st.booleans()))
        if required or draw(st.integers(0, 2)) == 0:
            event[name] = draw(_value(name) if draw(st.integers(0, wild)) == 0 else _valid(name))
    if draw(st.integers(0, 6)) == 0:
        event["attributes"] = draw(
            st.dictionaries(_strings, st.one_of(_strings, _numbers, st.booleans()), max_size=3)
        )
    if draw(st.integers(0, 40)) == 0:
        event["unknown_field"] = 1
    if draw(st.integers(0, 40)) == 0:
        del event[draw(st.sampled_from(["type", "id", "ts"]))]
    if draw(st.integers(0, 40)) == 0:
        event["type"] = draw(st.sampled_from(["bogus", 3, None]))
    return event


def _plain(name: str) -> Any:
    plain = {"model": "gpt-4o", "action": "connect", "sender_type": "user", "hit": True}
    return {**plain, "host": "web-1", "pid": 4242}.get(name, 250.0)


def _body(batch: list[Any]) -> bytes:
    return json.dumps(batch).encode()


def _pydantic(body: bytes) -> list[Any] | list[dict[str, Any]]:
    try:
        return parse_events(body, max_age_s=MAX_AGE, now=NOW)
    except ValidationError as exc:
        return error_details(exc)


def _same_preparation(a: Prepared, b: Prepared) -> None:
    assert a.rows.keys() == b.rows.keys()
    for key, row in a.rows.items():
        other = b.rows[key]
        assert row[:7] == other[:7]
        assert json.loads(row[7]) == json.loads(other[7])
        assert list(json.loads(row[7])) == list(json.loads(other[7]))  # same field order
    assert a.delta.counts == b.delta.counts
    assert a.delta.hist == b.delta.hist
    assert a.delta.users == b.delta.users
    assert a.delta.usage == b.delta.usage
    assert a.delta.sessions == b.delta.sessions
    assert (a.size, a.min_ts) == (b.size, b.min_ts)


def _values(fast: Any) -> dict[str, Any]:
    from msgspec.structs import asdict

    return {**asdict(fast), "type": type(fast).__struct_config__.tag}


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events(), min_size=1, max_size=4))
def test_never_more_lenient_and_the_same_values(batch: list[dict[str, Any]]) -> None:
    """Every batch msgspec accepts, pydantic accepts, with equal field values and the same
    rows and rollup increments; every batch pydantic refuses, msgspec refuses."""
    body = _body(batch)
    fast = decode_batch(body, max_age_s=MAX_AGE, now=NOW)
    slow = _pydantic(body)
    event("msgspec accepts" if fast is not None else "msgspec unsure")
    event("pydantic accepts" if slow and not isinstance(slow[0], dict) else "pydantic refuses")
    if fast is None:
        return
    assert slow and not isinstance(slow[0], dict), (batch, slow)
    for f, p in zip(fast, slow, strict=True):
        mine, theirs = _values(f), p.model_dump()
        assert mine.keys() == theirs.keys()
        for name, value in mine.items():
            assert value == theirs[name] and type(value) is type(theirs[name]), name
            if isinstance(value, float):
                assert math.copysign(1, value) == math.copysign(1, theirs[name])
    for store_text in (False, True):
        _same_preparation(
            prepare(fast, store_text=store_text), prepare(slow, store_text=store_text)
        )


@settings(max_examples=150, deadline=None)
@given(st.lists(events(valid_only=True), min_size=1, max_size=5))
def test_ordinary_events_take_the_fast_path(batch: list[dict[str, Any]]) -> None:
    """Events as the SDK sends them are decoded by msgspec (pydantic is not needed)."""
    assert decode_batch(_body(batch), max_age_s=MAX_AGE, now=NOW) is not None


@settings(max_examples=150, deadline=None)
@given(st.lists(events(), min_size=1, max_size=4))
def test_the_server_answers_as_pydantic_would(batch: list[dict[str, Any]]) -> None:
    """The server's parse (msgspec first, pydantic when unsure) gives pydantic's verdict:
    the same 422 details naming index and field, or the same rows."""
    body = _body(batch)
    slow = _pydantic(body)
    try:
        got = parse_and_prepare(body, 10_000, False, MAX_AGE, now=NOW)
    except InvalidBatch as exc:
        assert exc.details == slow
        return
    assert slow and not isinstance(slow[0], dict)
    _same_preparation(got, prepare(slow, store_text=False))


def test_a_refused_batch_is_named_by_pydantic() -> None:
    """A batch with a newline in a label (which ``$`` alone would let through) is refused
    with pydantic's message naming the index and field."""
    ok = {"type": "message", "id": "m1", "ts": NOW, "sender_type": "user"}
    with pytest.raises(InvalidBatch) as info:
        parse_and_prepare(
            _body([ok, {**ok, "id": "m2", "service": "api\n"}]), 10, False, MAX_AGE, now=NOW
        )
    assert [(d["index"], d["field"]) for d in info.value.details] == [(1, "service")]


_JSON_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
_JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _JSON_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_JSON_TEXT, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=400)
@given(
    _JSON_VALUE,
    st.booleans(),
    st.sampled_from(["", " ", "\t", "\n", "\r\n", "\x0c", "\x7f"]),
    st.binary(max_size=2),
)
def test_the_plain_body_test_is_the_byte_set_test(
    value: Any, ascii_only: bool, spacing: str, extra: bytes
) -> None:
    """For every body msgspec decodes, ``plain`` (isascii, no backslash, no DEL) says
    what the definition says: no byte outside printable ASCII but the backslash, tab,
    newline and return. Raw control characters and odd whitespace are refused by msgspec
    before the test runs; these bodies put them everywhere."""
    text = json.dumps([value, value], ensure_ascii=ascii_only)
    body = text.replace(",", "," + spacing).encode() + extra
    try:
        msgspec.json.decode(body)
    except msgspec.DecodeError:
        return
    assert events_fast.plain(body) == (not body.translate(None, events_fast._PLAIN))
