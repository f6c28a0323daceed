"""One turn scope and one failure rule: nested scopes join, 4xx is a client error."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.exceptions import HTTPException

import chatwatch
from chatwatch import CaptureTransport, Client
from chatwatch.sdk.outcome import default_failure_rule, fail_on_client_errors


@pytest.fixture
def capture() -> CaptureTransport:
    return CaptureTransport()


@pytest.fixture
def client(capture: CaptureTransport) -> Client:
    c = Client(transport=capture, flush_interval=0.01)
    yield c  # type: ignore[misc]
    c.close()


def _events(client: Client, capture: CaptureTransport) -> list[dict[str, Any]]:
    assert client.flush(5)
    return list(capture.events)


def test_current_turn_is_exported_and_joined(client: Client, capture: CaptureTransport) -> None:
    """A turn opened inside another joins it: one turn, the inner identity and tokens kept."""
    with client.turn(attributes={"route": "/chat"}) as outer:
        assert chatwatch.current_turn() is outer
        with client.turn(session_id="s-1", user_id="u-1") as inner:
            assert chatwatch.current_turn() is outer and inner.run_id == outer.run_id
            chatwatch.current_turn().llm_call("gpt-4o", 10, 5, 100.0)  # type: ignore[union-attr]
            inner.rag_search(0.8, 0.9, 3, 12.0)
        client.llm_call("gpt-4o", 1, 1, 10.0)
    assert chatwatch.current_turn() is None
    events = _events(client, capture)
    turns = [e for e in events if e["type"] == "turn"]
    assert len(turns) == 1
    turn = turns[0]
    assert turn["tokens"] == 17 and turn["llm_calls"] == 2 and turn["rag_searches"] == 1
    assert turn["session_id"] == "s-1" and turn["user_id"] == "u-1"
    assert {e["run_id"] for e in events} == {outer.run_id}


def test_http_4xx_inside_a_turn_is_a_client_error(
    client: Client, capture: CaptureTransport
) -> None:
    """HTTPException(400) in cw.turn: a successful turn keeping status 400; 503 fails."""
    for status in (400, 503):
        with pytest.raises(HTTPException), client.turn():
            raise HTTPException(status)
    ok, bad = [e for e in _events(client, capture) if e["type"] == "turn"]
    assert ok.get("success", True) is True and ok["status_code"] == 400
    assert "error_type" not in ok
    assert bad["success"] is False and bad["error_type"] == "HTTPException"
    assert bad["status_code"] == 503


def test_the_rule_is_per_client(capture: CaptureTransport) -> None:
    """A client built with fail_on_client_errors fails 4xx turns."""
    strict = Client(transport=capture, failure_rule=fail_on_client_errors)
    with pytest.raises(HTTPException), strict.turn():
        raise HTTPException(404)
    assert strict.flush(5)
    (turn,) = capture.events
    assert turn["success"] is False and turn["status_code"] == 404
    strict.close()


def test_default_rule_on_statuses_and_exceptions() -> None:
    """Status >= 500 or an exception fails; a 4xx or 2xx does not."""
    assert default_failure_rule(None, 200).success
    assert default_failure_rule(None, 404).success
    assert default_failure_rule(None, 404).status_code == 404
    assert default_failure_rule(None, 502).error_type == "HTTP502"
    assert default_failure_rule(ValueError("x"), None).error_type == "ValueError"
    assert not default_failure_rule(ValueError("x"), 200).success


def test_inner_exception_caught_by_the_app_still_fails_the_turn(
    client: Client, capture: CaptureTransport
) -> None:
    """An exception leaving a joined scope marks the outer turn even if caught after."""
    with client.turn():
        try:
            with client.turn():
                raise RuntimeError("model down")
        except RuntimeError:
            pass
    (turn,) = _events(client, capture)
    assert turn["success"] is False and turn["error_type"] == "RuntimeError"
