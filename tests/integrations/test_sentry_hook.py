"""The Sentry hook ties errors to chatwatch runs."""

from __future__ import annotations

import pytest

from chatwatch import CaptureTransport, Client
from chatwatch.integrations.sentry import before_send, sentry_options


def test_errors_inside_a_turn_carry_its_run_and_session() -> None:
    """Inside a turn the event is tagged with run and session ids; outside it is untouched."""
    client = Client(transport=CaptureTransport())
    assert before_send({"message": "x"}, {}) == {"message": "x"}
    with client.turn(session_id="s-7") as turn:
        event = before_send({"message": "boom"}, {})
    assert event is not None
    assert event["tags"] == {"chatwatch.run_id": turn.run_id, "chatwatch.session_id": "s-7"}
    client.close()


def test_options_follow_the_guide(monkeypatch: pytest.MonkeyPatch) -> None:
    """No personal data, 10 % tracing, DSN and environment from the environment."""
    monkeypatch.setenv("SENTRY_DSN", "https://key@sentry.example/1")
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    options = sentry_options(traces_sample_rate=0.2)
    assert options["send_default_pii"] is False
    assert options["dsn"] == "https://key@sentry.example/1"
    assert options["environment"] == "production"
    assert options["traces_sample_rate"] == 0.2
    assert options["before_send"] is before_send


def test_scrub_sees_asgi_header_pairs_and_secrets_in_text() -> None:
    """Byte header pairs, cookie strings, bearer tokens and chat texts become [Filtered]."""
    from chatwatch.integrations.sentry import scrub

    event = {
        "extra": {"scope": {"headers": [[b"cookie", b"sessionid=abc"], [b"accept", b"*/*"]]}},
        "message": "user said hello there, token cw_ingest_XYZ, Cookie: sessionid=s3cr3t",
    }
    cleaned = scrub(event, ["hello there"])
    assert cleaned["extra"]["scope"]["headers"] == [["cookie", "[Filtered]"], ["accept", "*/*"]]
    assert "hello there" not in cleaned["message"] and "cw_ingest_XYZ" not in cleaned["message"]
    assert "s3cr3t" not in cleaned["message"]


def test_a_failed_turn_is_found_from_its_exception_after_it_ended() -> None:
    """An error captured after the turn ended (daphne's log, a later log.exception) is
    tagged from the exception itself."""
    client = Client(transport=CaptureTransport())
    try:
        with client.turn(session_id="s-9") as turn:
            raise RuntimeError("boom")
    except RuntimeError as exc:
        event = before_send({"message": "x"}, {"exc_info": (type(exc), exc, None)})
    assert event is not None and event["tags"]["chatwatch.run_id"] == turn.run_id
    client.close()
