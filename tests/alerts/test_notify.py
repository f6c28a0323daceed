"""Notifications end to end: a real SMTP server, a real HTTP receiver, failures retried."""

from __future__ import annotations

import logging
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alert_helpers import (
    T0,
    Mailbox,
    Receiver,
    make_settings,
    running_receiver,
    running_smtp,
    turns,
)

from chatwatch.alerts import evaluate, parse_rules
from chatwatch.alerts.notify import backoff
from chatwatch.alerts.rules import Rule
from chatwatch.store import Store
from chatwatch.store.schema import alert_outbox


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    with running_smtp() as box:
        yield box


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as rec:
        yield rec


MIN = 60.0
RULES: list[Rule] = parse_rules(
    {
        "rules": [
            {
                "name": "high_error_rate",
                "metric": "error_rate",
                "warning": 5,
                "critical": 10,
                "window": "5m",
                "min_samples": 10,
                "title": "Error rate {value}%",
                "summary": "Error rate is {value}% over the last {window} "
                "(threshold {threshold}%).",
                "runbook_url": "https://runbooks.example/errors",
            }
        ]
    }
)


def _url(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def _settings(store: Store, mailbox: Mailbox | None, **extra: Any) -> Any:
    smtp: dict[str, Any] = {}
    if mailbox is not None:
        smtp = {
            "smtp_host": "127.0.0.1",
            "smtp_port": mailbox.port,
            "smtp_security": "none",
            "alert_emails": ["ops@example.com", "devops@example.com"],
            "alert_email_from": "alerts@example.com",
        }
    return make_settings(_url(store), base_url="http://chat.example:8000", **{**smtp, **extra})


def _outbox(store: Store) -> list[Any]:
    with store.read() as conn:
        return list(conn.execute(alert_outbox.select().order_by(alert_outbox.c.id)))


def test_alert_and_resolved_mail(sqlite_store: Store, smtp_server: Mailbox) -> None:
    """The SMTP server gets the alert and the resolved mail with subject and numbers."""
    settings = _settings(sqlite_store, smtp_server)
    turns(sqlite_store, T0, 40, failed=5)  # 12.5 %
    first = evaluate(sqlite_store, settings, RULES, now=T0 + 10)
    assert first.delivery.sent == 1
    assert smtp_server.subjects() == ["[CRITICAL] Error rate 12.5% [service=api]"]
    mail = smtp_server.messages[0]
    assert mail["From"] == "alerts@example.com"
    assert "ops@example.com" in mail["To"] and "devops@example.com" in mail["To"]
    plain = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for body in (plain, html):
        assert "12.5%" in body  # value
        assert "10.0%" in body  # threshold crossed
        assert "5m" in body  # window
        assert "http://chat.example:8000/analytics/" in body  # dashboard link
        assert "https://runbooks.example/errors" in body
    assert "<table" in html
    # nothing new while it keeps firing; the resolved mail once it clears
    evaluate(sqlite_store, settings, RULES, now=T0 + MIN + 10)
    assert len(smtp_server.messages) == 1
    evaluate(sqlite_store, settings, RULES, now=T0 + 10 * MIN)
    assert smtp_server.subjects()[1] == "[RESOLVED] Error rate 12.5% [service=api]"
    resolved = smtp_server.messages[1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "[RESOLVED]" in resolved and "resolved:" in resolved
    evaluate(sqlite_store, settings, RULES, now=T0 + 11 * MIN)
    assert len(smtp_server.messages) == 2


def test_smtp_login_password_never_logged(
    sqlite_store: Store, smtp_server: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    """User and password log in; a refused login is logged without the password."""
    caplog.set_level(logging.DEBUG, logger="chatwatch")
    turns(sqlite_store, T0, 40, failed=5)
    good = _settings(
        sqlite_store,
        smtp_server,
        smtp_user="alerts",
        smtp_password="s3cret-pass",
        smtp_allow_plaintext_auth=True,  # the test server has no TLS
    )
    assert evaluate(sqlite_store, good, RULES, now=T0 + 10).delivery.sent == 1
    assert smtp_server.logins == [("alerts", "s3cret-pass")]
    turns(sqlite_store, T0 + 4 * MIN, 40, failed=40)
    bad = _settings(
        sqlite_store,
        smtp_server,
        smtp_user="alerts",
        smtp_password="wrong-pass-123",
        smtp_allow_plaintext_auth=True,
        alert_repeat_interval_s=1,
        smtp_timeout_s=1,
    )
    result = evaluate(sqlite_store, bad, RULES, now=T0 + 4 * MIN + 10)
    assert result.delivery.failed == 1
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("chatwatch"))
    assert "via email failed" in ours
    assert "wrong-pass-123" not in ours and "s3cret-pass" not in ours
    row = _outbox(sqlite_store)[-1]
    assert "wrong-pass-123" not in row.last_error


def test_plaintext_smtp_auth_is_refused_unless_allowed(
    sqlite_store: Store, smtp_server: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    """CHATWATCH_SMTP_SECURITY=none with a user: the password is never sent in clear text
    (the server, without TLS, sees no login and no mail) unless explicitly allowed."""
    caplog.set_level(logging.DEBUG, logger="chatwatch")
    turns(sqlite_store, T0, 40, failed=5)
    plain = _settings(sqlite_store, smtp_server, smtp_user="alerts", smtp_password="s3cret-pass")
    assert plain.smtp_security == "none" and not plain.smtp_allow_plaintext_auth
    result = evaluate(sqlite_store, plain, RULES, now=T0 + 10)
    assert result.delivery.sent == 0 and result.delivery.failed == 1
    assert smtp_server.logins == [] and smtp_server.messages == []
    error = _outbox(sqlite_store)[-1].last_error
    assert "CHATWATCH_SMTP_ALLOW_PLAINTEXT_AUTH" in error and "s3cret-pass" not in error
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("chatwatch"))
    assert "s3cret-pass" not in ours


def test_smtp_down_is_retried_and_webhook_still_delivered(
    sqlite_store: Store, receiver: Receiver, smtp_server: Mailbox
) -> None:
    """SMTP refusing connections costs a logged, retried failure; the webhook still gets it."""
    down = Mailbox(port=1)  # nothing listens on port 1
    settings = _settings(sqlite_store, down, alert_webhook_urls=[receiver.url])
    turns(sqlite_store, T0, 40, failed=5)
    first = evaluate(sqlite_store, settings, RULES, now=T0 + 10)
    assert (first.delivery.sent, first.delivery.failed) == (1, 1)
    assert len(receiver.bodies) == 1
    email = next(r for r in _outbox(sqlite_store) if r.channel == "email")
    assert (email.status, email.attempts) == ("pending", 1)
    assert email.next_attempt_at == pytest.approx(T0 + 10 + backoff(1))
    assert "SMTP 127.0.0.1:1" in email.last_error
    # not due yet: nothing tried; once due, with the server back, it is delivered
    settings_up = _settings(sqlite_store, smtp_server, alert_webhook_urls=[receiver.url])
    early = evaluate(sqlite_store, settings_up, RULES, now=T0 + 20)
    assert early.delivery.sent == 0 and smtp_server.messages == []
    later = evaluate(sqlite_store, settings_up, RULES, now=T0 + 10 + backoff(1) + 1)
    assert later.delivery.sent == 1
    assert smtp_server.subjects() == ["[CRITICAL] Error rate 12.5% [service=api]"]
    assert len(receiver.bodies) == 1  # the webhook was not sent twice


def test_delivery_gives_up_after_max_attempts(sqlite_store: Store) -> None:
    """A channel that keeps failing is given up after alert_max_attempts, evaluation goes on."""
    settings = _settings(sqlite_store, Mailbox(port=1), alert_max_attempts=2)
    turns(sqlite_store, T0, 40, failed=5)
    evaluate(sqlite_store, settings, RULES, now=T0 + 10)
    result = evaluate(sqlite_store, settings, RULES, now=T0 + 10 + backoff(1) + 1)
    assert result.delivery.given_up == 1
    assert _outbox(sqlite_store)[0].status == "failed"


def test_webhook_alertmanager_payload(sqlite_store: Store, receiver: Receiver) -> None:
    """The receiver gets Alertmanager's webhook JSON (version 4), firing then resolved."""
    settings = _settings(sqlite_store, None, alert_webhook_urls=[receiver.url])
    turns(sqlite_store, T0, 40, failed=5)
    evaluate(sqlite_store, settings, RULES, now=T0 + 10)
    body = receiver.bodies[0]
    assert body["version"] == "4"
    assert body["status"] == "firing"
    assert body["receiver"] == "chatwatch"
    assert body["groupLabels"] == {"alertname": "high_error_rate"}
    assert body["groupKey"] == '{}:{alertname="high_error_rate"}'
    assert body["commonLabels"] == {
        "alertname": "high_error_rate",
        "service": "api",
        "severity": "critical",
    }
    assert body["externalURL"] == "http://chat.example:8000"
    assert body["truncatedAlerts"] == 0
    (alert,) = body["alerts"]
    assert set(alert) == {
        "status",
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "generatorURL",
        "fingerprint",
    }
    assert alert["startsAt"] == "2026-01-01T00:00:10.000Z"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert alert["annotations"]["value"] == "12.5%"
    assert alert["annotations"]["summary"].startswith("Error rate is 12.5%")
    assert len(alert["fingerprint"]) == 16
    evaluate(sqlite_store, settings, RULES, now=T0 + 10 * MIN)
    resolved = receiver.bodies[1]
    assert resolved["status"] == "resolved"
    assert resolved["alerts"][0]["endsAt"] == "2026-01-01T00:10:00.000Z"


def test_slack_text_and_failing_receiver_retried(sqlite_store: Store, receiver: Receiver) -> None:
    """Slack-style body is {"text": ...}; a 500 answer is retried later."""
    receiver.status = 500
    settings = _settings(sqlite_store, None, alert_slack_webhook_urls=[receiver.url])
    turns(sqlite_store, T0, 40, failed=5)
    first = evaluate(sqlite_store, settings, RULES, now=T0 + 10)
    assert first.delivery.failed == 1
    assert set(receiver.bodies[0]) == {"text"}
    text = receiver.bodies[0]["text"]
    assert "[CRITICAL] Error rate 12.5%" in text and "threshold > 10.0%" in text
    receiver.status = 200
    again = evaluate(sqlite_store, settings, RULES, now=T0 + 10 + backoff(1))
    assert again.delivery.sent == 1 and len(receiver.bodies) == 2
    row = _outbox(sqlite_store)[0]
    assert (row.status, row.attempts) == ("sent", 2)
    assert receiver.url not in (row.last_error or "")


def test_no_channel_still_logs(sqlite_store: Store, caplog: pytest.LogCaptureFixture) -> None:
    """With no channel configured, the alert is logged (guide 000's ALERT line)."""
    caplog.set_level(logging.WARNING, logger="chatwatch.alerts")
    turns(sqlite_store, T0, 40, failed=5)
    result = evaluate(sqlite_store, _settings(sqlite_store, None), RULES, now=T0 + 10)
    assert result.notifications == 1 and _outbox(sqlite_store) == []
    assert "ALERT FIRING high_error_rate" in caplog.text
    assert any(r.levelno == logging.CRITICAL for r in caplog.records)


def test_smtp_refusals_are_retried(
    sqlite_store: Store, smtp_server: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    """A server without STARTTLS (when STARTTLS is required) is a logged, retried failure."""
    caplog.set_level(logging.WARNING, logger="chatwatch.alerts")
    settings = _settings(sqlite_store, smtp_server, smtp_security="starttls")
    turns(sqlite_store, T0, 40, failed=5)
    result = evaluate(sqlite_store, settings, RULES, now=T0 + 10)
    assert (result.delivery.sent, result.delivery.failed) == (0, 1)
    assert smtp_server.messages == []
    assert "STARTTLS" in caplog.text and "retrying in 30 s" in caplog.text
    row = _outbox(sqlite_store)[0]
    assert (row.status, row.attempts) == ("pending", 1)


@pytest.fixture
def certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A self-signed certificate for localhost, trusted through SSL_CERT_FILE."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    return cert, key


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_and_login(sqlite_store: Store, certificate: tuple[Path, Path], security: str) -> None:
    """STARTTLS and implicit TLS, each with a login that the server only allows over TLS."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    with running_smtp(tls_context=context, implicit=security == "tls") as box:
        settings = _settings(
            sqlite_store,
            box,
            smtp_host="localhost",
            smtp_security=security,
            smtp_user="alerts",
            smtp_password="s3cret-pass",
        )
        turns(sqlite_store, T0, 40, failed=5)
        result = evaluate(sqlite_store, settings, RULES, now=T0 + 10)
    assert result.delivery.sent == 1, _outbox(sqlite_store)[0].last_error
    assert box.logins == [("alerts", "s3cret-pass")]
    assert box.subjects() == ["[CRITICAL] Error rate 12.5% [service=api]"]
