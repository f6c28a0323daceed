"""HTTPTransport against a real socket, and its mapping of the server's answers."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from chatwatch.sdk import Client, HTTPTransport, RejectedBatch, RetryAfter

MakeClient = Callable[..., Client]
Batch = list[dict[str, Any]]


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_retries_while_the_server_is_down_then_delivers_once(
    make_client: MakeClient, receiver: Any
) -> None:
    """Records return at once while nothing listens; once the server is up each event lands once."""
    client = make_client(url=receiver.url, api_key="cw-key", service="bot")
    ids = [client.llm_call("gpt-4o", 10, 5, 300.0, session_id="s1") for _ in range(50)]
    with client.turn(session_id="s1"):
        ids.append(client.rag_search(0.5, 0.7, 3, 20.0))
    assert all(ids)
    wait_for(lambda: client.stats()["retries"] >= 2)
    assert client.stats()["sent"] == 0
    receiver.start()
    assert client.flush(10)
    counts = collections.Counter(e["id"] for e in receiver.accepted)
    assert set(ids) <= set(counts)
    assert set(counts.values()) == {1}
    assert len(counts) == 52
    request = receiver.requests[0]
    assert request.path == "/api/v1/events"
    assert request.headers["Authorization"] == "Bearer cw-key"
    assert request.headers["Content-Encoding"] == "gzip"
    assert client.stats()["sent"] == 52


def test_422_drops_only_the_named_events(make_client: MakeClient, receiver: Any) -> None:
    """A 422 naming events by index drops those (counted as rejected) and resends the rest."""

    def strict(batch: Batch) -> tuple[int, dict[str, Any]]:
        bad = [i for i, e in enumerate(batch) if e.get("sender_type") == "robot"]
        if bad:
            detail = [
                {"index": i, "field": "sender_type", "loc": [i, "message"], "msg": "no robots"}
                for i in bad
            ]
            return 422, {"detail": detail}
        return 202, {"accepted": len(batch), "duplicates": 0}

    receiver.respond = strict
    receiver.start()
    client = make_client(url=receiver.url, flush_interval=60)
    senders = ["user", "robot", "agent", "robot", "user"]
    ids = [client.message(s, "s1") for s in senders]
    assert client.flush(5)
    assert [e["id"] for e in receiver.accepted] == [ids[0], ids[2], ids[4]]
    assert [r.status for r in receiver.requests] == [422, 202]
    stats = client.stats()
    assert (stats["rejected"], stats["sent"], stats["retries"]) == (2, 3, 0)


def test_server_errors_are_retried(make_client: MakeClient, receiver: Any) -> None:
    """A 500 answer keeps the batch and retries it; the retry is delivered."""
    answers = iter([(500, {"detail": "db down"})])
    receiver.respond = lambda batch: next(answers, (202, {"accepted": len(batch)}))
    receiver.start()
    client = make_client(url=receiver.url)
    event_id = client.escalation("s1", "human please")
    assert client.flush(5)
    assert [r.status for r in receiver.requests] == [500, 202]
    assert [e["id"] for e in receiver.accepted] == [event_id]
    assert client.stats()["retries"] == 1


def test_plain_json_without_gzip(make_client: MakeClient, receiver: Any) -> None:
    """gzip=False sends an uncompressed body without Content-Encoding."""
    receiver.start()
    client = make_client(url=receiver.url, gzip=False)
    client.session_started("s1")
    assert client.flush(5)
    assert "Content-Encoding" not in receiver.requests[0].headers
    assert receiver.accepted[0]["type"] == "session_started"


def test_unserialisable_events_are_rejected_locally(make_client: MakeClient, receiver: Any) -> None:
    """Events JSON cannot encode (objects, NaN) are rejected; the rest of the batch goes."""
    receiver.start()
    client = make_client(url=receiver.url, flush_interval=60)
    good = client.message("user", "s1")
    client.message("user", "s1", attributes={"x": object()})
    client.llm_call("m", latency_ms=float("nan"))
    assert client.flush(5)
    assert [e["id"] for e in receiver.accepted] == [good]
    assert client.stats()["rejected"] == 2


def test_url_and_key_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, make_client: MakeClient
) -> None:
    """Without arguments the client reads CHATWATCH_URL and CHATWATCH_API_KEY."""
    monkeypatch.setenv("CHATWATCH_URL", "http://cw.example:8000/")
    monkeypatch.setenv("CHATWATCH_API_KEY", "env-key")
    transport = make_client().transport
    assert isinstance(transport, HTTPTransport)
    assert transport.endpoint == "http://cw.example:8000/api/v1/events"
    assert "env-key" not in repr(transport)


def test_no_destination_discards_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """With no url, env var or transport the client warns once and records into the void."""
    monkeypatch.delenv("CHATWATCH_URL", raising=False)
    client = make_client()
    assert "discarded" in caplog.text
    assert client.message("user")
    assert client.flush(5)


def mock_answer(status: int, **kwargs: Any) -> HTTPTransport:
    return HTTPTransport(
        "http://cw.test",
        "k",
        transport=httpx.MockTransport(lambda request: httpx.Response(status, **kwargs)),
    )


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_reject_the_whole_batch(status: int) -> None:
    """Other 4xx answers are not retryable and reject every event in the batch."""
    with pytest.raises(RejectedBatch) as info:
        mock_answer(status, json={"detail": "no"}).send([{"type": "message"}])
    assert (info.value.status, info.value.indexes) == (status, None)


def test_422_without_indexes_rejects_the_whole_batch() -> None:
    """A 422 that names no event (e.g. the body itself was bad) rejects all of it."""
    with pytest.raises(RejectedBatch) as info:
        mock_answer(422, json={"detail": [{"index": None, "msg": "bad json"}]}).send([{}])
    assert info.value.indexes is None


def test_413_is_reported_for_splitting() -> None:
    """A 413 surfaces as RejectedBatch(status=413), which the client answers by splitting."""
    with pytest.raises(RejectedBatch) as info:
        mock_answer(413).send([{}, {}])
    assert info.value.status == 413


@pytest.mark.parametrize("status", [429, 503])
def test_rate_limits_carry_retry_after(status: int) -> None:
    """429 and 503 raise RetryAfter with the server's Retry-After seconds."""
    with pytest.raises(RetryAfter) as info:
        mock_answer(status, headers={"Retry-After": "7"}).send([{}])
    assert info.value.seconds == 7.0


@pytest.mark.parametrize("status", [500, 502, 504, 408])
def test_server_failures_are_retryable(status: int) -> None:
    """5xx and 408 raise a plain (retryable) exception, not RejectedBatch."""
    with pytest.raises(Exception) as info:
        mock_answer(status).send([{}])
    assert not isinstance(info.value, RejectedBatch)


def test_202_returns_quietly() -> None:
    """A 202 acknowledgement means delivered: send returns without raising."""
    mock_answer(202, json={"accepted": 1, "duplicates": 0}).send([{}])
