"""client.turn(): timing, outcome and run ids, as a context manager and as a decorator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from chatwatch.events import parse_events
from chatwatch.sdk import CaptureTransport, Client, current_turn

MakeClient = Callable[..., Client]


@pytest.fixture
def capture() -> CaptureTransport:
    return CaptureTransport()


@pytest.fixture
def client(make_client: MakeClient, capture: CaptureTransport) -> Client:
    return make_client(transport=capture, service="bot")


def sent(client: Client, capture: CaptureTransport) -> list[dict[str, Any]]:
    assert client.flush(5)
    parse_events(capture.events)
    return capture.events


def by_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


def test_with_block_records_a_successful_timed_turn(
    client: Client, capture: CaptureTransport
) -> None:
    """A with-block records one turn: success, positive response time, scope fields."""
    with client.turn(session_id="s1", user_id="u1", user_type="free", topic="billing") as t:
        pass
    [turn] = sent(client, capture)
    assert turn["type"] == "turn"
    assert turn["run_id"] == t.run_id
    assert turn["response_time_ms"] > 0
    assert turn.get("success", True) is True
    assert "error_type" not in turn
    assert (turn["session_id"], turn["user_id"], turn["user_type"]) == ("s1", "u1", "free")
    assert turn["topic"] == "billing"
    assert turn["service"] == "bot"


def test_exception_marks_failure_and_propagates(client: Client, capture: CaptureTransport) -> None:
    """An exception in the block is re-raised and recorded as success=False with its type."""
    with pytest.raises(KeyError), client.turn(session_id="s1"):
        raise KeyError("boom")
    [turn] = sent(client, capture)
    assert turn["success"] is False
    assert turn["error_type"] == "KeyError"
    assert turn["response_time_ms"] > 0


def test_nested_events_share_the_run_id_and_session(
    client: Client, capture: CaptureTransport
) -> None:
    """LLM, RAG, cache and escalation events inside a turn carry its run id and session."""
    with client.turn(session_id="s1", user_id="u1") as t:
        t.llm_call("gpt-4o", 100, 50, 420.0, provider="openai")
        client.llm_call("gpt-4o-mini", 10, 5, 80.0)
        t.rag_search(similarity=0.6, top_similarity=0.8, results=4, search_time_ms=30.0)
        client.cache_lookup(False)
        client.escalation(None, "angry user")
    events = sent(client, capture)
    assert len(events) == 6
    assert {e["run_id"] for e in events} == {t.run_id}
    assert {e["session_id"] for e in events} == {"s1"}
    assert {e["user_id"] for e in events} == {"u1"}


def test_tokens_are_summed_from_the_turns_llm_calls(
    client: Client, capture: CaptureTransport
) -> None:
    """Without set(tokens=...), a turn's tokens are the input+output tokens of its LLM calls."""
    with client.turn() as t:
        t.llm_call("a", 100, 50, 1.0)
        client.llm_call("b", 7, 3, 1.0)
    [turn] = by_type(sent(client, capture), "turn")
    assert turn["tokens"] == 160
    assert turn["model"] == "b"


def test_tokens_are_omitted_without_llm_calls(client: Client, capture: CaptureTransport) -> None:
    """A turn with no LLM calls and no set(tokens=...) has no tokens field."""
    with client.turn():
        pass
    [turn] = sent(client, capture)
    assert "tokens" not in turn


def test_rag_and_cache_fields_default_from_the_scope(
    client: Client, capture: CaptureTransport
) -> None:
    """rag_used follows any search, rag_found a search with results, cached a response hit."""
    with client.turn():
        client.rag_search(results=0)
    with client.turn():
        client.rag_search(results=0)
        client.rag_search(results=2)
        client.cache_lookup(True, "response")
    with client.turn():
        client.cache_lookup(True, "embedding")
    first, second, third = by_type(sent(client, capture), "turn")
    assert (first.get("rag_used"), first.get("rag_found")) == (True, None)
    assert (second.get("rag_used"), second.get("rag_found"), second.get("cached")) == (
        True,
        True,
        True,
    )
    assert "rag_used" not in third
    assert "cached" not in third


def test_set_overrides_what_the_scope_inferred(client: Client, capture: CaptureTransport) -> None:
    """set() wins over inferred values and can mark a failure without an exception."""
    with client.turn(topic="a") as t:
        t.llm_call("m", 10, 10, 1.0)
        t.set(tokens=5, topic="b", cached=True, success=False, error_type="Refused")
    [turn] = by_type(sent(client, capture), "turn")
    assert (turn["tokens"], turn["topic"], turn["cached"]) == (5, "b", True)
    assert (turn["success"], turn["error_type"]) == (False, "Refused")


def test_async_with_records_the_turn(client: Client, capture: CaptureTransport) -> None:
    """async with works like with, including the exception path."""

    async def main() -> str:
        async with client.turn(session_id="s9") as t:
            await asyncio.sleep(0.01)
            client.llm_call("m", 1, 2, 3.0)
        with pytest.raises(TimeoutError):
            async with client.turn():
                raise TimeoutError
        return t.run_id

    run_id = asyncio.run(main())
    ok, failed = by_type(sent(client, capture), "turn")
    assert ok["run_id"] == run_id
    assert ok["response_time_ms"] >= 10
    assert ok["tokens"] == 3
    assert (failed["success"], failed["error_type"]) == (False, "TimeoutError")


def test_sync_decorator_records_one_turn_per_call(
    client: Client, capture: CaptureTransport
) -> None:
    """A decorated function returns its value; each call is a separate turn with its run id."""
    seen: list[str] = []

    @client.turn(topic="faq")
    def answer(question: str) -> str:
        scope = current_turn()
        assert scope is not None
        seen.append(scope.run_id)
        client.llm_call("m", 1, 1, 1.0)
        return question.upper()

    assert answer("hi") == "HI"
    assert answer("yo") == "YO"
    assert answer.__name__ == "answer"
    turns = by_type(sent(client, capture), "turn")
    assert [t["run_id"] for t in turns] == seen
    assert len(set(seen)) == 2
    assert all(t["topic"] == "faq" and t["tokens"] == 2 for t in turns)


def test_async_decorator_records_and_reraises(client: Client, capture: CaptureTransport) -> None:
    """A decorated coroutine function stays a coroutine; failures are recorded and re-raised."""

    @client.turn()
    async def answer(fail: bool) -> int:
        await asyncio.sleep(0)
        if fail:
            raise ValueError("no")
        return 42

    assert asyncio.iscoroutinefunction(answer)
    assert asyncio.run(answer(False)) == 42
    with pytest.raises(ValueError):
        asyncio.run(answer(True))
    ok, failed = by_type(sent(client, capture), "turn")
    assert ok.get("success", True) is True
    assert (failed["success"], failed["error_type"]) == (False, "ValueError")


def test_concurrent_async_turns_keep_their_own_run_ids(
    client: Client, capture: CaptureTransport
) -> None:
    """Interleaved asyncio tasks attach their LLM calls to their own turn."""

    @client.turn()
    async def answer(n: int) -> str:
        await asyncio.sleep(0.01 * (3 - n))
        client.llm_call(f"m{n}", n, 0, 1.0)
        await asyncio.sleep(0)
        scope = current_turn()
        assert scope is not None
        return scope.run_id

    async def main() -> list[str]:
        return await asyncio.gather(*(answer(n) for n in range(3)))

    run_ids = asyncio.run(main())
    events = sent(client, capture)
    for n, run_id in enumerate(run_ids):
        [call] = [e for e in by_type(events, "llm_call") if e["model"] == f"m{n}"]
        assert call["run_id"] == run_id
    assert current_turn() is None


def test_reusing_a_scope_starts_a_new_run(client: Client, capture: CaptureTransport) -> None:
    """Entering the same scope object twice records two turns with different run ids."""
    scope = client.turn()
    with scope:
        first = scope.run_id
    with scope:
        second = scope.run_id
    turns = sent(client, capture)
    assert first != second
    assert [t["run_id"] for t in turns] == [first, second]


def test_record_turn_returns_the_run_id(client: Client, capture: CaptureTransport) -> None:
    """record_turn returns its run id: the given one, else the event's own id."""
    own = client.record_turn(120.0)
    given = client.record_turn(80.0, run_id="run-7", success=False, error_type="E")
    first, second = sent(client, capture)
    assert own == first["id"] == first["run_id"]
    assert given == second["run_id"] == "run-7"
