"""The dicts the SDK builds: valid per chatwatch.events, small, with good ids."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

import chatwatch
import chatwatch.sdk
from chatwatch.events import EVENT_TYPES, parse_events
from chatwatch.sdk import CaptureTransport, Client

MakeClient = Callable[..., Client]
Record = Callable[[Client], str]

COMMON: dict[str, Any] = {"user_id": "u1", "user_type": "premium", "attributes": {"plan": "pro"}}

EVERY_METHOD: dict[str, Record] = {
    "record_turn": lambda c: c.record_turn(
        950.0,
        success=False,
        error_type="Timeout",
        cached=True,
        topic="billing",
        model="gpt-4o",
        tokens=321,
        rag_used=True,
        rag_found=True,
        sender_type="user",
        input_text="hi",
        output_text="hello",
        session_id="s1",
        **COMMON,
    ),
    "record_turn_minimal": lambda c: c.record_turn(12.5),
    "llm_call": lambda c: c.llm_call(
        "gpt-4o",
        120,
        80,
        640.0,
        run_id="r1",
        provider="openai",
        success=False,
        error_type="RateLimit",
        cost_usd=0.0021,
        session_id="s1",
        **COMMON,
    ),
    "llm_call_minimal": lambda c: c.llm_call("claude-3-haiku"),
    "rag_search": lambda c: c.rag_search(
        0.62, 0.91, 5, 33.0, cache_hit=True, run_id="r1", session_id="s1", **COMMON
    ),
    "rag_search_minimal": lambda c: c.rag_search(),
    "cache_lookup": lambda c: c.cache_lookup(True, "embedding", run_id="r1", session_id="s1"),
    "session_started": lambda c: c.session_started("s1", "http", **COMMON),
    "session_ended": lambda c: c.session_ended("s1", "idle", channel="http", **COMMON),
    "connect": lambda c: c.connect("s1", **COMMON),
    "disconnect": lambda c: c.disconnect("s1", "sse"),
    "reconnect": lambda c: c.reconnect(None),
    "feedback_rating": lambda c: c.feedback(4, run_id="r1", comment="good", **COMMON),
    "feedback_thumbs": lambda c: c.feedback(thumbs=False, session_id="s1"),
    "escalation": lambda c: c.escalation("s1", "asked for a human", run_id="r1", **COMMON),
    "message": lambda c: c.message("agent", "s1", text="a human here", **COMMON),
    "heartbeat": lambda c: c.heartbeat(),
}


@pytest.fixture
def capture() -> CaptureTransport:
    return CaptureTransport()


@pytest.fixture
def client(make_client: MakeClient, capture: CaptureTransport) -> Client:
    return make_client(transport=capture)


@pytest.mark.parametrize("method", sorted(EVERY_METHOD))
def test_every_method_produces_a_valid_event(
    method: str, client: Client, capture: CaptureTransport
) -> None:
    """Each record method's event validates with parse_events and its id is returned."""
    returned = EVERY_METHOD[method](client)
    assert client.flush(5)
    [event] = capture.events
    [parsed] = parse_events(capture.events)
    assert parsed.id == event["id"]
    assert returned in (event["id"], event.get("run_id"))


def test_all_event_types_are_covered() -> None:
    """The SDK can produce every event type the schema knows."""
    client = Client(transport=CaptureTransport(), flush_interval=0.05)
    try:
        for record in EVERY_METHOD.values():
            record(client)
        assert client.flush(5)
        transport = client.transport
        assert isinstance(transport, CaptureTransport)
        assert {e["type"] for e in transport.events} == set(EVENT_TYPES)
    finally:
        client.close()


def test_unset_fields_are_left_out(client: Client, capture: CaptureTransport) -> None:
    """Optional fields that were not given are absent, keeping the dicts small."""
    client.llm_call("m", 1, 2, 3.0)
    client.session_ended("s1")
    assert client.flush(5)
    llm, ended = capture.events
    assert set(llm) == {
        "type",
        "id",
        "ts",
        "service",
        "model",
        "input_tokens",
        "output_tokens",
        "latency_ms",
    }
    assert set(ended) == {"type", "id", "ts", "service", "session_id"}
    assert not any(v is None for e in capture.events for v in e.values())


def test_ids_are_unique_time_ordered_and_schema_safe(
    client: Client, capture: CaptureTransport
) -> None:
    """Ids never repeat, sort in recording order and fit the schema's id pattern."""
    ids = [client.cache_lookup(i % 2 == 0) for i in range(5000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9_.:\-]{1,64}", i) for i in ids)


def test_attributes_are_copied_at_record_time(client: Client, capture: CaptureTransport) -> None:
    """Mutating the attributes dict after recording does not change the recorded event."""
    attributes = {"plan": "free"}
    client.message("user", "s1", attributes=attributes)
    attributes["plan"] = "changed"
    assert client.flush(5)
    assert capture.events[0]["attributes"] == {"plan": "free"}


def test_public_api_is_pinned() -> None:
    """The package and SDK export exactly these names, sorted."""
    assert chatwatch.__all__ == sorted(chatwatch.__all__)
    assert chatwatch.__all__ == [
        "CaptureTransport",
        "Client",
        "FunctionTransport",
        "HTTPTransport",
        "StoreTransport",
        "Transport",
        "TurnScope",
        "__version__",
        "current_turn",
    ]
    assert chatwatch.__version__ == "0.1.0"
    assert chatwatch.sdk.__all__ == sorted(chatwatch.sdk.__all__)
    assert chatwatch.sdk.__all__ == [
        "CaptureTransport",
        "Client",
        "EventSink",
        "FunctionTransport",
        "HTTPTransport",
        "RejectedBatch",
        "RetryAfter",
        "StoreTransport",
        "Transport",
        "TurnScope",
        "current_turn",
    ]
