"""Hostile label values in notifications and logs: Slack shows them as text, a CR/LF in a
service name neither breaks an e-mail header nor stops the other services' mail, log
lines stay whole, and database errors carry no parameters."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from alert_helpers import (
    T0,
    Mailbox,
    Receiver,
    make_settings,
    running_receiver,
    running_smtp,
)
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from chatwatch.alerts import evaluate, parse_rules
from chatwatch.alerts.notify.email import alert_messages
from chatwatch.events import Turn
from chatwatch.store import Store

PHISH = "<https://evil.example/r|Reset your password>"
CRLF = "billing\r\nBcc: victim@evil.example"
RULES = parse_rules(
    {
        "rules": [
            {
                "name": "high_error_rate",
                "metric": "error_rate",
                "window": "5m",
                "by": ["service"],
                "min_samples": 1,
                "title": "Errors on {service}",
                "summary": "Error rate on {service} is {value}%",
            }
        ]
    }
)


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    with running_smtp() as box:
        yield box


@pytest.fixture
def slack() -> Iterator[Receiver]:
    with running_receiver() as rec:
        yield rec


def _failing_turns(store: Store, services: list[str]) -> None:
    """Failed turns for each service, written as stored data older than today's input
    checks could be (the values bypass validation, as rows from an older version would)."""
    ts = datetime.fromtimestamp(T0, UTC)
    store.ingest(
        [
            Turn.model_construct(
                id=f"t{i}-{n}",
                ts=ts.timestamp(),
                type="turn",
                service=service,
                session_id=None,
                user_id=None,
                user_type=None,
                response_time_ms=100.0,
                success=False,
                error_type="Timeout",
                sender_type="user",
                cached=False,
                rag_used=False,
                rag_found=False,
                model=None,
                topic=None,
                tokens=None,
                run_id=None,
                attributes={},
            )
            for i, service in enumerate(services)
            for n in range(3)
        ]
    )


def _settings(store: Store, smtp: Mailbox, slack: Receiver) -> Any:
    url = store.engine.url.render_as_string(hide_password=False)
    return make_settings(
        url,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_security="none",
        alert_emails=["ops@example.com"],
        alert_email_from="alerts@example.com",
        alert_slack_webhook_urls=[slack.url],
        base_url="http://chat.example:8000",
    )


def test_hostile_services_are_text_everywhere(
    store: Store, smtp: Mailbox, slack: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """One round with three failing services (one a Slack link, one with CR/LF): the
    Slack message holds no link but chatwatch's, the e-mail reaches its recipient with a
    one-line subject and every service in its body, and each alert is one log line."""
    services = [CRLF, PHISH, "search"]
    _failing_turns(store, services)
    settings = _settings(store, smtp, slack)
    with caplog.at_level(logging.INFO, "chatwatch.alerts"):
        result = evaluate(store, settings, RULES, now=T0 + 10)
    assert result.delivery is not None and result.delivery.failed == 0
    (body,) = slack.bodies
    slack_text = body["text"]
    assert "<https://evil" not in slack_text
    assert "&lt;https://evil.example/r|Reset your password&gt;" in slack_text
    assert slack_text.count("<") == 1  # the dashboard link, chatwatch's own
    (mail,) = smtp.messages
    subject = str(mail["Subject"])
    assert "\r" not in subject and "\n" not in subject and "Bcc" not in mail
    assert mail["To"] == "ops@example.com"
    plain = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "search" in plain and "evil.example/r" in plain
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "&lt;https://evil.example/r" in html and "<https://evil" not in html
    alert_lines = [r for r in caplog.records if r.getMessage().startswith("ALERT ")]
    assert len(alert_lines) == 3
    for record in alert_lines:
        line = record.getMessage()
        assert "\n" not in line and "\r" not in line
    assert any("billing\\r\\nBcc" in r.getMessage() for r in alert_lines)


def test_one_unwritable_alert_does_not_stop_the_others(store: Store) -> None:
    """A label no e-mail can hold (a lone surrogate): the group is sent alert by alert and
    only that alert's mail is missing."""
    _failing_turns(store, ["bad", "search"])
    url = store.engine.url.render_as_string(hide_password=False)
    settings = make_settings(url, alert_emails=["ops@example.com"])
    result = evaluate(store, settings, RULES, now=T0 + 10, deliver=False)
    (group,) = result.groups
    for alert in group["alerts"]:
        if alert["labels"]["service"] == "bad":
            alert["labels"]["service"] = "bad\udc80"
            alert["annotations"]["title"] = "Errors on bad\udc80"
    messages = alert_messages(group, settings)
    assert len(messages) == 1
    assert "search" in str(messages[0]["Subject"])


def test_database_errors_carry_no_parameters(store: Store) -> None:
    """A failed statement's error names the SQL but not the values it was given."""
    with pytest.raises(DBAPIError) as caught, store.write() as conn:
        conn.execute(
            text("INSERT INTO no_such_table (user_id) VALUES (:u)"), {"u": "user-42@secret"}
        )
    assert "user-42@secret" not in str(caught.value)
    assert "hidden" in str(caught.value)
