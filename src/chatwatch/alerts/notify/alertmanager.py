"""Alertmanager push: every evaluation, every firing alert is POSTed to each configured
Alertmanager's ``/api/v2/alerts`` (as Prometheus does), with ``startsAt``, an ``endsAt``
four evaluation intervals ahead (so Alertmanager resolves it by itself if chatwatch stops
sending) and ``generatorURL``: the dashboard filtered to the alert. An alert that resolved
this round is sent once more with ``endsAt`` at its resolve time. Grouping, routing,
inhibition and paging are then Alertmanager's."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from chatwatch.alerts.notify.format import fmt_value
from chatwatch.alerts.notify.links import absolute, dashboard_link
from chatwatch.alerts.notify.webhook import WebhookError, post_json, safe_url
from chatwatch.alerts.rules import Rule
from chatwatch.alerts.state import StateRow
from chatwatch.config import Settings

__all__ = ["alertmanager_alert", "push_alertmanager"]

log = logging.getLogger("chatwatch.alerts")


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _severity(row: StateRow, rule: Rule) -> str:
    """The level the alert fired at (a resolved row has cleared its own)."""
    if row.level or row.notified_level:
        return str(row.level or row.notified_level)
    return "critical" if rule.critical is not None and row.last_critical_at else "warning"


def alertmanager_alert(
    row: StateRow, rule: Rule, settings: Settings, now: float
) -> dict[str, Any] | None:
    """Alertmanager's ``postableAlert`` for a firing alert (ending four intervals ahead)
    or one that resolved this round (ending now); None for the rest."""
    if row.state == "firing":
        ends = now + 4 * settings.alert_evaluation_interval_s
    elif row.state == "resolved" and row.resolved_at == now:
        ends = now
    else:
        return None
    annotations = {k: v for k, v in row.annotations.items() if v}
    if "runbook_url" in annotations:
        annotations["runbook_url"] = absolute(annotations["runbook_url"], settings)
    annotations["value"] = fmt_value(row.value, row.unit)
    if row.threshold is not None:
        annotations["threshold"] = fmt_value(row.threshold, row.unit)
    return {
        "labels": {**row.labels, "severity": _severity(row, rule)},
        "annotations": annotations,
        "startsAt": _rfc3339(row.fired_at or row.active_since or now),
        "endsAt": _rfc3339(ends),
        "generatorURL": dashboard_link(row.labels, settings, rule.window),
    }


def push_alertmanager(alerts: list[dict[str, Any]], settings: Settings) -> tuple[int, int]:
    """POST the alerts to every configured Alertmanager: (sent, failed) Alertmanagers. A
    failure is logged and left to the next round (which sends them all again)."""
    sent = failed = 0
    if not alerts:
        return sent, failed
    for url in settings.alertmanager_urls:
        target = url.rstrip("/") + "/api/v2/alerts"
        try:
            post_json(target, alerts, settings.alert_webhook_timeout_s)
            sent += 1
        except WebhookError as exc:
            failed += 1
            log.warning(
                "alertmanager %s: %d alerts not pushed: %s", safe_url(url), len(alerts), exc
            )
    return sent, failed
