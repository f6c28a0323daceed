"""The Sentry hook ties errors to chatwatch runs."""

from __future__ import annotations

import contextvars

import pytest

from chatwatch import CaptureTransport, Client
from chatwatch.integrations import sentry
from chatwatch.integrations.sentry import before_send, before_send_transaction, sentry_options


def test_errors_inside_a_turn_carry_its_run_and_session() -> None:
    """Inside a turn the event is tagged with run and session ids; outside it is untouched."""
    client = Client(transport=CaptureTransport())
    assert before_send({"message": "x"}, {}) == {"message": "x"}
    with client.turn(session_id="s-7") as turn:
        event = before_send({"message": "boom"}, {})
    assert event is not None
    assert event["tags"] == {"chatwatch.run_id": turn.run_id, "chatwatch.session_id": "s-7"}
    client.close()


def test_options_refuse_a_sentry_sdk_they_would_not_init(monkeypatch: pytest.MonkeyPatch) -> None:
    """sentry-sdk 3 refuses send_default_pii with a TypeError of its own: chatwatch says
    which version it needs instead."""
    monkeypatch.setattr(sentry, "_sdk_version", lambda: "3.0.0")
    with pytest.raises(RuntimeError, match=r"sentry-sdk 2\.x, not 3\.0\.0"):
        sentry_options()
    monkeypatch.setattr(sentry, "_sdk_version", lambda: None)  # not installed: no check
    assert sentry_options()["send_default_pii"] is False


def test_options_follow_the_guide(monkeypatch: pytest.MonkeyPatch) -> None:
    """No personal data, no frame variables, no request bodies, 10 % tracing, DSN and
    environment from the environment; each of them the user's to override."""
    monkeypatch.setenv("SENTRY_DSN", "https://key@sentry.example/1")
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    options = sentry_options()
    assert options["send_default_pii"] is False
    assert options["include_local_variables"] is False
    assert options["max_request_body_size"] == "never"
    assert options["dsn"] == "https://key@sentry.example/1"
    assert options["environment"] == "production"
    assert options["traces_sample_rate"] == 0.1
    assert options["before_send"] is before_send
    assert options["before_send_transaction"] is before_send_transaction
    mine = sentry_options(
        traces_sample_rate=0.2, include_local_variables=True, max_request_body_size="small"
    )
    assert mine["traces_sample_rate"] == 0.2
    assert mine["include_local_variables"] is True and mine["max_request_body_size"] == "small"


def test_the_users_before_send_runs_after_the_scrub() -> None:
    """A before_send of the user's sees the scrubbed event and may drop it."""
    seen: list[dict[str, object]] = []

    def theirs(event: dict[str, object], hint: dict[str, object]) -> dict[str, object] | None:
        seen.append(event)
        return None

    hook = sentry_options(before_send=theirs)["before_send"]
    event = {"request": {"headers": {"Cookie": "sessionid=abc"}, "data": "hello"}}
    # a fresh context: no earlier test's last turn to tag the event with
    assert contextvars.Context().run(hook, event, {}) is None
    assert seen == [{"request": {"headers": {"Cookie": "[Filtered]"}}}]


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


def test_a_late_capture_is_tagged_only_in_the_request_the_turn_ran_in() -> None:
    """After a turn ends, an error captured in the same Sentry scope (the same request or
    task) is still tagged; the next job of a worker thread, in a scope of its own, is not
    tagged with the previous job's turn."""
    import sentry_sdk

    def run() -> None:
        client = Client(transport=CaptureTransport(), heartbeat_interval=None)
        with sentry_sdk.isolation_scope():  # what Sentry's integrations do per request/task
            with client.turn(session_id="job-1") as turn:
                pass
            late = before_send({"message": "summary failed"}, {})
        assert late is not None and late["tags"]["chatwatch.run_id"] == turn.run_id
        with sentry_sdk.isolation_scope():  # the thread's next job
            unrelated = before_send({"message": "other job failed"}, {})
        assert unrelated == {"message": "other job failed"}
        client.close()

    contextvars.Context().run(run)
