"""PagerDuty Events API v2: a ``trigger`` per firing alert and a ``resolve`` when it
clears, one dedup key per alert (its fingerprint), so repeats update the same incident
and a resolve closes it. The routing key is a secret: never logged; the channel is named
by a hash of it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chatwatch.alerts.notify.format import fmt_value
from chatwatch.alerts.notify.webhook import WebhookError, post_json
from chatwatch.config import Settings

__all__ = ["dedup_key", "pagerduty_events", "send_pagerduty"]

_SEVERITY = {"critical": "critical", "warning": "warning"}


def dedup_key(alert: dict[str, Any]) -> str:
    return f"chatwatch-{alert['fingerprint']}"


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def _trigger(alert: dict[str, Any], settings: Settings, key: str) -> dict[str, Any]:
    labels = alert["labels"]
    annotations = alert["annotations"]
    summary = annotations.get("title") or alert["rule"]
    where = ", ".join(f"{k}={labels[k]}" for k in ("service", "model", "provider") if k in labels)
    links = [{"href": alert["dashboard_url"], "text": "chatwatch dashboard"}]
    if annotations.get("runbook_url"):
        links.append({"href": annotations["runbook_url"], "text": "Runbook"})
    return {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup_key(alert),
        "payload": {
            "summary": (f"{summary} [{where}]" if where else summary)[:1024],
            "source": labels.get("service") or settings.service_name,
            "severity": _SEVERITY.get(alert["level"] or "", "warning"),
            "timestamp": _iso(alert["starts_at"]),
            "component": labels.get("model") or labels.get("service"),
            "group": labels.get("service"),
            "class": alert["rule"],
            "custom_details": {
                "summary": annotations.get("summary", ""),
                "value": fmt_value(alert["value"], alert["unit"]),
                "threshold": f"{alert['op']} {fmt_value(alert['threshold'], alert['unit'])}",
                "window": alert["window"],
                "labels": labels,
            },
        },
        "links": links,
        "client": "chatwatch",
        "client_url": alert["dashboard_url"],
    }


def pagerduty_events(group: dict[str, Any], settings: Settings, key: str) -> list[dict[str, Any]]:
    """The Events API v2 bodies for a notification group, one per alert."""
    out: list[dict[str, Any]] = []
    for alert in group["alerts"]:
        if alert["status"] == "resolved":
            out.append(
                {"routing_key": key, "event_action": "resolve", "dedup_key": dedup_key(alert)}
            )
        else:
            out.append(_trigger(alert, settings, key))
    return out


def send_pagerduty(group: dict[str, Any], settings: Settings) -> None:
    """POST every event of the group; any failure raises (the outbox retries the group:
    PagerDuty deduplicates by key, so a repeated trigger or resolve is harmless)."""
    if settings.pagerduty_routing_key is None:
        raise WebhookError("no PagerDuty routing key (CHATWATCH_PAGERDUTY_ROUTING_KEY)")
    key = settings.pagerduty_routing_key.get_secret_value()
    for body in pagerduty_events(group, settings, key):
        post_json(settings.pagerduty_url, body, settings.alert_webhook_timeout_s)
