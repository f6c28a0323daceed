"""The compiled rollup increments (chatwatch/store/_delta.c) against their Python definition
(rollup.python_delta): on the same msgspec events, the same keys in the same order, the same
cells with the same types and the same float bits, the same session increments.

Events are drawn from small pools of services, sessions, users, models and run ids so that
keys and sessions repeat inside a batch (where the two could drift apart), with the edge
values of each rule: minute, hour and day boundaries, a similarity of -0.0, 0.35 and 1.0,
status codes around 4xx, missing models and error types, turns that say or leave out their
own LLM calls and searches, priced, own-priced and unpriced models, embedding calls.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatwatch.events_fast import decode_batch
from chatwatch.store import rollup
from chatwatch.store.rollup import Delta, compute_delta, python_delta
from chatwatch.store.writer import Prepared, prepare, python_prepare
from traffic import sdk_events

pytestmark = pytest.mark.skipif(rollup._fast is None, reason="the C extension is not built")

NOW = 1_790_000_000.0  # the times below include the edges of its minute, hour and day
MAX_AGE = 30 * 86400.0

_services = st.sampled_from(["default", "web", "api"])
_sessions = st.one_of(st.none(), st.sampled_from(["s1", "s2", "s3", "s4"]))
_users = st.one_of(st.none(), st.sampled_from(["u1", "u2"]))
_user_types = st.one_of(st.none(), st.sampled_from(["free", "pro"]))
_runs = st.one_of(st.none(), st.sampled_from(["r1", "r2", "r3"]))
_models = st.sampled_from(["gpt-4o", "gpt-4o-mini", "no-such-model", "text-embedding-3-small"])
_ts = st.one_of(
    st.floats(NOW - 7200, NOW),
    st.sampled_from([1_789_999_980.0, 1_789_999_979.999999, 1_789_999_200.0, 1_789_948_800.0, NOW]),
)
_millis = st.one_of(
    st.floats(0, 20_000), st.sampled_from([0.0, 0.0000001, 100.0, 500.0, 10_000.0, 86_400_000.0])
)
_similarity = st.one_of(
    st.none(), st.floats(-1, 1), st.sampled_from([-0.0, 0.35, 1.0, -1.0, 0.95, 0.05])
)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


@st.composite
def pooled_events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            [
                "turn",
                "llm_call",
                "rag_search",
                "cache_lookup",
                "connection",
                "session_started",
                "session_ended",
                "feedback",
                "escalation",
                "message",
                "heartbeat",
            ]
        )
    )
    e: dict[str, Any] = {
        "type": kind,
        "id": f"e{draw(st.integers(0, 10**9))}",
        "ts": draw(_ts),
        "service": draw(_services),
        "session_id": draw(_sessions),
        "user_id": draw(_users),
        "user_type": draw(_user_types),
    }
    if kind == "turn":
        e |= {
            "run_id": draw(_runs),
            "sender_type": draw(st.sampled_from(["user", "assistant", "bot"])),
            "response_time_ms": draw(_millis),
            "success": draw(st.booleans()),
            "error_type": draw(_maybe(st.sampled_from(["timeout", "rate_limit"]))),
            "cached": draw(_maybe(st.booleans())),
            "topic": draw(_maybe(st.sampled_from(["billing", "login"]))),
            "model": draw(_maybe(_models)),
            "tokens": draw(_maybe(st.integers(0, 5000))),
            "rag_used": draw(st.booleans()),
            "rag_found": draw(st.booleans()),
            "status_code": draw(_maybe(st.sampled_from([200, 399, 400, 404, 499, 500]))),
            "llm_calls": draw(_maybe(st.integers(0, 3))),
            "rag_searches": draw(_maybe(st.integers(0, 2))),
        }
    elif kind == "llm_call":
        e |= {
            "run_id": draw(_runs),
            "model": draw(_models),
            "input_tokens": draw(st.integers(0, 100_000)),
            "output_tokens": draw(st.integers(0, 100_000)),
            "latency_ms": draw(_millis),
            "success": draw(st.booleans()),
            "error_type": draw(_maybe(st.sampled_from(["timeout", "overloaded"]))),
            "cost_usd": draw(_maybe(st.sampled_from([0.0, -0.0, 0.0123, 1.5]))),
            "kind": draw(st.sampled_from(["chat", "chat", "embedding"])),
        }
    elif kind == "rag_search":
        e |= {
            "run_id": draw(_runs),
            "similarity": draw(_similarity),
            "results": draw(st.integers(0, 5)),
            "search_time_ms": draw(_millis),
            "cache_hit": draw(st.booleans()),
        }
    elif kind == "cache_lookup":
        e |= {"hit": draw(st.booleans()), "kind": draw(st.sampled_from(["response", "embed"]))}
    elif kind == "connection":
        e |= {
            "action": draw(st.sampled_from(["connect", "disconnect", "reconnect"])),
            "channel": draw(st.sampled_from(["websocket", "sse"])),
        }
    elif kind == "session_started":
        e["channel"] = draw(st.sampled_from(["websocket", "sse"]))
    elif kind == "session_ended":
        e["channel"] = draw(_maybe(st.sampled_from(["websocket", "sse"])))
    elif kind == "feedback":
        e |= {
            "run_id": draw(_runs),
            "rating": draw(_maybe(st.integers(1, 5))),
            "thumbs": draw(_maybe(st.sampled_from(["up", "down"]))),
        }
        if e["rating"] is None and e["thumbs"] is None:  # the schema wants one of them
            e["thumbs"] = "up"
    elif kind == "escalation":
        e["run_id"] = draw(_runs)
    elif kind == "message":
        e["sender_type"] = draw(st.sampled_from(["user", "assistant"]))
    else:
        e |= {"host": "web-1", "pid": 4242, "memory_rss_mb": 100.0}
    return {k: v for k, v in e.items() if v is not None}


def _structs(batch: list[dict[str, Any]]) -> list[Any]:
    body = json.dumps(batch).encode()
    structs = decode_batch(body, max_age_s=MAX_AGE * 100, now=max(NOW, time.time()))
    assert structs is not None, "the drawn events are valid SDK events"
    return structs


def _bits(value: Any) -> Any:
    """A value with its type, floats by their bits (so 0.0 and -0.0 differ)."""
    if isinstance(value, float):
        return ("float", value.hex() if not math.isnan(value) else "nan")
    if isinstance(value, list | tuple):
        return (type(value).__name__, [_bits(v) for v in value])
    return (type(value).__name__, value)


def assert_same(c: Delta, py: Delta) -> None:
    for part in ("counts", "hist", "users", "usage"):
        got, want = getattr(c, part), getattr(py, part)
        assert list(got) == list(want), part  # the same keys, in the same order
        assert [_bits(k) for k in got] == [_bits(k) for k in want], part
        assert [_bits(v) for v in got.values()] == [_bits(v) for v in want.values()], part
    assert list(c.sessions) == list(py.sessions)
    for key, s in c.sessions.items():
        t = py.sessions[key]
        for name in rollup.SESSION_FIELDS:
            assert _bits(getattr(s, name)) == _bits(getattr(t, name)), (key, name)
    assert (c.index, c.ranges, c.batch, c.runs) == ([], [], (), None)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(pooled_events(), min_size=1, max_size=40))
def test_the_same_increments_as_python(batch: list[dict[str, Any]]) -> None:
    structs = _structs(batch)
    assert rollup._fast.compute(structs) is not None  # the C path did run
    assert_same(compute_delta(structs), python_delta(structs))


def _python_merge(into: Delta, other: Delta) -> None:
    """Delta.merge with the Python definitions of each addition."""
    rollup.add_cells(into.counts, other.counts)
    rollup.add_counts(into.hist, other.hist)
    rollup.add_counts(into.users, other.users)
    rollup.add_cells3(into.usage, other.usage)
    rollup.merge_sessions(into.sessions, other.sessions.values())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(pooled_events(), min_size=1, max_size=25), min_size=2, max_size=5))
def test_merging_in_c_adds_as_python_does(batches: list[list[dict[str, Any]]]) -> None:
    """The group writer's and the fold's merge (Delta.merge, its additions in C) against
    the Python additions: the same keys in the same order, the same sums to the bit."""
    structs = [_structs(batch) for batch in batches]
    c, py = python_delta(structs[0]), python_delta(structs[0])
    for batch in structs[1:]:
        c.merge(python_delta(batch))
        _python_merge(py, python_delta(batch))
    assert_same(c, py)


def test_merging_in_c_refuses_what_it_cannot_add() -> None:
    """A cell of the wrong shape is an error, as unpacking it in Python is."""
    fast = rollup._fast
    with pytest.raises(ValueError):
        fast.merge_cells({}, {("k",): [1, 2.0, 3]}, 2)
    with pytest.raises(ValueError):
        fast.merge_cells({("k",): [1]}, {("k",): [1, 2.0]}, 2)
    with pytest.raises(TypeError):
        fast.merge_counts({}, {("k",): "1"})
    into = {("a",): 1, ("b",): 2.5}
    fast.merge_counts(into, {("b",): 1, ("c",): 4})
    assert into == {("a",): 1, ("b",): 3.5, ("c",): 4}


def test_sdk_traffic_gives_the_same_increments() -> None:
    """The demo's traffic as the SDK records it (12 000 calls), in batches of 2 000."""
    events = sdk_events(12_000, seed=3)
    assert len(events) == 12_000
    for start in range(0, len(events), 2000):
        structs = _structs(events[start : start + 2000])
        assert_same(compute_delta(structs), python_delta(structs))


def test_what_it_does_not_read_goes_to_python(tmp_path: Path) -> None:
    """pydantic models, plain objects and an empty batch: compute() declines (None), and
    compute_delta answers with the Python definition."""
    from chatwatch.events import parse_events

    batch = [
        {"type": "turn", "id": "a", "ts": NOW, "response_time_ms": 5.0, "session_id": "s"},
        {"type": "message", "id": "b", "ts": NOW, "sender_type": "user", "user_id": "u"},
    ]
    models = parse_events(json.dumps(batch).encode())
    assert rollup._fast.compute(list(models)) is None
    assert rollup._fast.compute([*_structs(batch), object()]) is None
    assert rollup._fast.compute([]) == ({}, {}, {}, {}, {})
    assert_same(compute_delta(models), python_delta(_structs(batch)))
    # a Struct whose field holds what msgspec never gives (set after decoding)
    odd = _structs(batch)
    odd[0].response_time_ms = 5  # an int
    assert rollup._fast.compute(odd) is None
    assert compute_delta(odd).counts == python_delta(_structs(batch)).counts
    with pytest.raises(TypeError):
        rollup._fast.compute(tuple(odd))
    assert isinstance(odd[1], msgspec.Struct)


def assert_same_rows(c: Prepared, py: Prepared) -> None:
    assert list(c.rows) == list(py.rows)
    assert [_bits(r) for r in c.rows.values()] == [_bits(r) for r in py.rows.values()]
    assert c.events is not None and py.events is not None
    assert list(c.events) == list(py.events)
    assert all(c.events[k] is py.events[k] for k in c.events)  # the first of each id
    assert _bits(c.min_ts) == _bits(py.min_ts)
    assert (c.size, c.store_text) == (py.size, py.store_text)
    assert_same(c.delta, py.delta)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(pooled_events(), min_size=1, max_size=30), st.booleans(), st.integers(0, 5))
def test_the_same_rows_as_python(
    batch: list[dict[str, Any]], store_text: bool, repeat: int
) -> None:
    """The rows (the data column's JSON byte for byte, the LLM call's priced cost added),
    the first event of each id, the earliest time: as python_prepare makes them."""
    if repeat and len(batch) > repeat:
        batch[repeat]["id"] = batch[0]["id"]  # an id twice in a batch
    for e in batch:
        if e["type"] == "turn" and store_text:
            e["input_text"], e["output_text"] = "hi", "hello"
    structs = _structs(batch)
    assert rollup._fast.rows(structs, store_text) is not None
    assert_same_rows(
        prepare(structs, store_text=store_text), python_prepare(structs, store_text=store_text)
    )
