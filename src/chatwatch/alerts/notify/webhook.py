"""Webhooks: Alertmanager's webhook payload (version 4), so anything that takes
Alertmanager's webhooks takes chatwatch's, and a Slack-compatible ``{"text": ...}`` body
for Slack, Mattermost, Rocket.Chat and friends. URLs can hold secrets (Slack's do): they
are never logged; a channel is named by a hash of its URL."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from chatwatch.alerts.notify.format import dashboard_url, fmt_value, slack_text, subject
from chatwatch.config import Settings

__all__ = [
    "WebhookError",
    "alertmanager_payload",
    "channel_id",
    "post_json",
    "safe_url",
    "slack_payload",
]

_ZERO_TIME = "0001-01-01T00:00:00Z"


class WebhookError(RuntimeError):
    pass


def channel_id(kind: str, url: str) -> str:
    return f"{kind}:{hashlib.sha256(url.encode()).hexdigest()[:12]}"


def safe_url(url: str) -> str:
    """Scheme and host only: what may appear in a log line."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}"


def _rfc3339(ts: float | None) -> str:
    if ts is None:
        return _ZERO_TIME
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = maps[0]
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}


def alertmanager_payload(group: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The body Alertmanager POSTs to a webhook receiver (``version: "4"``)."""
    alerts = group["alerts"]
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    group_labels = {"alertname": group["rule"]}
    return {
        "version": "4",
        "groupKey": '{}:{alertname="' + group["rule"] + '"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": settings.alert_receiver,
        "groupLabels": group_labels,
        "commonLabels": _common([a["labels"] for a in alerts]),
        "commonAnnotations": _common([a["annotations"] for a in alerts]),
        "externalURL": settings.public_url or settings.base_url,
        "alerts": [
            {
                "status": a["status"],
                "labels": a["labels"],
                "annotations": {
                    **a["annotations"],
                    "value": fmt_value(a["value"], a["unit"]),
                    "threshold": fmt_value(a["threshold"], a["unit"]),
                    "window": a["window"],
                },
                "startsAt": _rfc3339(a["starts_at"]),
                "endsAt": _rfc3339(a["ends_at"]) if a["status"] == "resolved" else _ZERO_TIME,
                "generatorURL": a.get("dashboard_url") or dashboard_url(settings.base_url),
                "fingerprint": a["fingerprint"],
            }
            for a in alerts
        ],
    }


def slack_payload(group: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """A Slack incoming-webhook body: one bold subject line, one line per alert."""
    icon = {"critical": ":red_circle:", "warning": ":large_orange_circle:"}
    # every piece that can hold a label is escaped: only chatwatch's own link is markup
    lines = [f"*{slack_text(subject(group))}*"]
    for a in group["alerts"]:
        mark = (
            icon.get(a["level"] or "", ":white_check_mark:")
            if a["status"] == "firing"
            else ":white_check_mark:"
        )
        where = " ".join(f"{k}={a['labels'][k]}" for k in ("service", "model") if k in a["labels"])
        lines.append(
            f"{mark} {slack_text(a['annotations'].get('summary') or a['rule'])}"
            f" (value {fmt_value(a['value'], a['unit'])}, threshold {a['op']}"
            f" {fmt_value(a['threshold'], a['unit'])}, window {a['window']}"
            + (f", {slack_text(where)}" if where else "")
            + ")"
        )
    first = group["alerts"][0] if group["alerts"] else {}
    lines.append(
        f"<{first.get('dashboard_url') or dashboard_url(settings.base_url)}|Open the dashboard>"
    )
    return {"text": "\n".join(lines)}


def post_json(url: str, body: dict[str, Any] | list[Any], timeout: float) -> None:
    """POST ``body``; any transport error or non-2xx answer raises WebhookError."""
    try:
        response = httpx.post(url, json=body, timeout=timeout)
    except httpx.HTTPError as exc:
        raise WebhookError(f"{safe_url(url)}: {type(exc).__name__}") from None
    if not response.is_success:
        raise WebhookError(f"{safe_url(url)}: HTTP {response.status_code}")
