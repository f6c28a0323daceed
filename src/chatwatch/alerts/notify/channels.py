"""The delivery channels configured in the settings, each named by a stable id that
carries no secret: ``email``, ``webhook:<hash>``, ``slack:<hash>``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chatwatch.alerts.notify.email import alert_messages, email_configured, send_message
from chatwatch.alerts.notify.format import fmt_value
from chatwatch.alerts.notify.pagerduty import send_pagerduty
from chatwatch.alerts.notify.webhook import (
    alertmanager_payload,
    channel_id,
    post_json,
    slack_payload,
)
from chatwatch.config import Settings
from chatwatch.logsafe import clean

__all__ = ["Channel", "channels", "log_group"]

log = logging.getLogger("chatwatch.alerts")


@dataclass(frozen=True)
class Channel:
    id: str
    send: Callable[[dict[str, Any]], None]


def channels(settings: Settings) -> dict[str, Channel]:
    """Every channel the settings configure, by id."""
    found: dict[str, Channel] = {}
    if email_configured(settings):
        found["email"] = Channel("email", lambda group: _send_mail(group, settings))
    for url in settings.alert_webhook_urls:
        cid = channel_id("webhook", url)
        found[cid] = Channel(cid, _poster(url, alertmanager_payload, settings))
    for url in settings.alert_slack_webhook_urls:
        cid = channel_id("slack", url)
        found[cid] = Channel(cid, _poster(url, slack_payload, settings))
    if settings.pagerduty_routing_key is not None:
        cid = channel_id("pagerduty", settings.pagerduty_routing_key.get_secret_value())
        found[cid] = Channel(cid, lambda group: send_pagerduty(group, settings))
    return found


def _send_mail(group: dict[str, Any], settings: Settings) -> None:
    for message in alert_messages(group, settings):
        send_message(settings, message)


def _poster(
    url: str,
    body: Callable[[dict[str, Any], Settings], dict[str, Any]],
    settings: Settings,
) -> Callable[[dict[str, Any]], None]:
    def send(group: dict[str, Any]) -> None:
        post_json(url, body(group, settings), settings.alert_webhook_timeout_s)

    return send


def log_group(group: dict[str, Any]) -> None:
    """The log channel, always on: one line per alert, guide 000's ``ALERT:`` prefix."""
    for a in group["alerts"]:
        level = logging.CRITICAL if a["level"] == "critical" else logging.WARNING
        if a["status"] == "resolved":
            level = logging.INFO
        where = " ".join(f"{k}={v}" for k, v in sorted(a["labels"].items()) if k != "alertname")
        log.log(
            level,
            "ALERT %s %s: %s: value %s (threshold %s %s, window %s) %s",
            a["status"].upper(),
            clean(a["rule"]),
            clean(a["annotations"].get("title") or a["rule"]),
            fmt_value(a["value"], a["unit"]),
            a["op"],
            fmt_value(a["threshold"], a["unit"]),
            a["window"],
            clean(where),  # user-typed label values: one log line whatever they hold
        )
