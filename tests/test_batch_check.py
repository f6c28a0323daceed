"""The compiled per-event checks of a decoded batch (chatwatch/_batch_check.c) against
their Python definition (events_fast.plain_check): the same verdict on generated batches
near every rule, character checks included (the compiled one judges each value where it
reads it; the Python one gathers the distinct values and judges them once)."""

from __future__ import annotations

import gc
import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatwatch import events_fast
from chatwatch.events_fast import FUTURE_SLACK_S, plain_check
from test_events_fast import MAX_AGE, NOW, events

pytestmark = pytest.mark.skipif(events_fast._CHECK is None, reason="the C extension is not built")
LO, HI = NOW - MAX_AGE, NOW + FUTURE_SLACK_S


def _decoded(batch: list[dict[str, Any]]) -> list[Any] | None:
    try:
        return list(events_fast._DECODER.decode(json.dumps(batch).encode()))
    except msgspec.DecodeError:
        return None


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(events(), events(valid_only=True)), min_size=1, max_size=6))
def test_the_compiled_checks_give_the_python_verdict_and_values(
    batch: list[dict[str, Any]],
) -> None:
    decoded = _decoded(batch)
    if decoded is None:
        return  # msgspec refused it: no per-event check runs
    assert events_fast._CHECK is not None
    for lo, hi in ((LO, HI), (0.0, events_fast.MAX_TS), (NOW, NOW)):
        assert events_fast._CHECK(decoded, lo, hi) is plain_check(decoded, lo, hi)


def test_ordinary_events_pass_both() -> None:
    decoded = _decoded(
        [
            {
                "type": "turn",
                "id": "e1",
                "ts": NOW,
                "service": "web",
                "run_id": "r1",
                "response_time_ms": 5.0,
                "success": True,
                "model": "gpt-4o",
            },
            {"type": "feedback", "id": "e2", "ts": NOW - 1, "rating": 4, "run_id": "r1"},
        ]
    )
    assert decoded is not None and events_fast._CHECK is not None
    assert events_fast._CHECK(decoded, LO, HI) is True
    assert plain_check(decoded, LO, HI) is True
    assert events_fast._CHECK(decoded, NOW + 1, HI) is False  # an event before lo


@pytest.mark.parametrize(
    ("field", "value"), [("id", "e 1"), ("run_id", "r/1"), ("service", "web!"), ("model", "a*b")]
)
def test_a_character_its_field_does_not_take_fails_the_batch(field: str, value: str) -> None:
    event = {"type": "turn", "id": "e1", "ts": NOW, "response_time_ms": 5.0, "success": True}
    decoded = _decoded([{**event, field: value}])
    assert decoded is not None and events_fast._CHECK is not None
    assert events_fast._CHECK(decoded, LO, HI) is False
    assert plain_check(decoded, LO, HI) is False


def test_decoded_events_are_not_tracked_by_the_collector() -> None:
    """They cannot be in a cycle (strings, numbers, a dict of scalars): the collector's
    young passes need not visit every event of every batch in flight."""
    decoded = _decoded(
        [
            {
                "type": "turn",
                "id": "e1",
                "ts": NOW,
                "attributes": {"k": "v"},
                "response_time_ms": 5.0,
                "success": True,
            }
        ]
    )
    assert decoded is not None
    assert not gc.is_tracked(decoded[0]) and not gc.is_tracked(decoded[0].attributes)


def test_what_it_does_not_know_goes_to_the_python_loop() -> None:
    assert events_fast._CHECK is not None
    assert events_fast._CHECK([object()], LO, HI) is NotImplemented
