"""PagerDuty Events API v2 and Slack incoming-webhook payloads, received by a real local
HTTP server and checked against the documented schemas; every link absolute."""

from __future__ import annotations

import re
from collections.abc import Iterator

import jsonschema
import pytest
from alert_helpers import T0, Receiver, make_settings, running_receiver, turns

from chatwatch.alerts import evaluate, parse_rules
from chatwatch.store import Store

# PagerDuty Events API v2, "Send an alert event" (developer.pagerduty.com)
_PD_PAYLOAD = {
    "type": "object",
    "required": ["summary", "source", "severity"],
    "additionalProperties": False,
    "properties": {
        "summary": {"type": "string", "minLength": 1, "maxLength": 1024},
        "source": {"type": "string", "minLength": 1},
        "severity": {"enum": ["critical", "error", "warning", "info"]},
        "timestamp": {"type": "string", "format": "date-time"},
        "component": {"type": "string"},
        "group": {"type": "string"},
        "class": {"type": "string"},
        "custom_details": {"type": "object"},
    },
}
PAGERDUTY = {
    "type": "object",
    "required": ["routing_key", "event_action"],
    "additionalProperties": False,
    "properties": {
        "routing_key": {"type": "string", "minLength": 32, "maxLength": 32},
        "event_action": {"enum": ["trigger", "acknowledge", "resolve"]},
        "dedup_key": {"type": "string", "minLength": 1, "maxLength": 255},
        "payload": _PD_PAYLOAD,
        "images": {"type": "array"},
        "links": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["href"],
                "properties": {"href": {"type": "string", "pattern": "^https?://"}},
            },
        },
        "client": {"type": "string"},
        "client_url": {"type": "string", "pattern": "^https?://"},
    },
    "if": {"properties": {"event_action": {"const": "trigger"}}},
    "then": {"required": ["payload", "dedup_key"]},
    "else": {"required": ["dedup_key"]},
}
# Slack incoming webhooks (api.slack.com/messaging/webhooks): a text, mrkdwn links
SLACK = {
    "type": "object",
    "required": ["text"],
    "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 40000}},
}
KEY = "0123456789abcdef0123456789abcdef"
RULES = parse_rules(
    {
        "rules": [
            {
                "name": "errors",
                "metric": "error_rate",
                "warning": 5,
                "critical": 10,
                "window": "5m",
                "min_samples": 10,
                "runbook_url": "/analytics/runbook#high_error_rate",
            }
        ]
    }
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as rec:
        yield rec


def test_pagerduty_trigger_then_resolve(db_url: str, receiver: Receiver) -> None:
    """A trigger with a dedup key per alert, absolute links, the documented fields; a
    repeat keeps the key; the resolve carries the same key."""
    store = Store(db_url)
    settings = make_settings(
        db_url,
        pagerduty_routing_key=KEY,
        pagerduty_url=receiver.url,
        public_url="https://chat.example.com/watch",
        alert_repeat_interval_s=60,
    )
    try:
        turns(store, T0 - 30, 40, failed=8, service="api")
        turns(store, T0 - 30, 40, failed=1, service="web")
        evaluate(store, settings, RULES, now=T0)
        evaluate(store, settings, RULES, now=T0 + 60)  # a repeat
        evaluate(store, settings, RULES, now=T0 + 600)  # the window empties: resolved
    finally:
        store.close()
    for body in receiver.bodies:
        jsonschema.validate(body, PAGERDUTY)
    actions = [(b["event_action"], b["dedup_key"]) for b in receiver.bodies]
    assert [a for a, _ in actions] == ["trigger", "trigger", "resolve"]
    assert len({k for _, k in actions}) == 1
    trigger = receiver.bodies[0]
    payload = trigger["payload"]
    assert payload["severity"] == "critical" and payload["source"] == "api"
    assert payload["summary"] == "errors [service=api]"
    assert payload["custom_details"]["value"] == "20.0%"
    hrefs = [link["href"] for link in trigger["links"]]
    assert hrefs == [
        "https://chat.example.com/watch/analytics/?service=api&window=5m",
        "https://chat.example.com/watch/analytics/runbook#high_error_rate",
    ]


def test_slack_payload_has_absolute_links(db_url: str, receiver: Receiver) -> None:
    """Slack's body is its documented ``text``; the dashboard link is absolute and
    filtered to the alert's service."""
    store = Store(db_url)
    settings = make_settings(
        db_url, alert_slack_webhook_urls=[receiver.url], public_url="https://cw.example.com"
    )
    try:
        turns(store, T0 - 30, 40, failed=8)
        evaluate(store, settings, RULES, now=T0)
    finally:
        store.close()
    (body,) = receiver.bodies
    jsonschema.validate(body, SLACK)
    links = re.findall(r"<([^|>]+)\|[^>]+>", body["text"])
    assert links == ["https://cw.example.com/analytics/?service=api&window=5m"]
    assert body["text"].startswith("*[CRITICAL] errors [service=api]*")
