"""The alerts table and its Silence button, through ``chatwatch.alerts`` (docs/alerts.md).

The alerts package is imported when first needed: without it (or before its tables
exist) the dashboard still works and says that alerts are not available.
"""

from __future__ import annotations

import importlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from chatwatch.dashboard.format import format_value
from chatwatch.store import Store

__all__ = ["SILENCE_HOURS", "alerts_api", "alerts_table", "expire", "silence"]

log = logging.getLogger("chatwatch.dashboard")

SILENCE_HOURS = (1, 4, 24, 168)


def alerts_api() -> Any | None:
    """The ``chatwatch.alerts`` module, or None when it is not installed."""
    try:
        return importlib.import_module("chatwatch.alerts")
    except ImportError:
        return None


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _alert(a: Any, silences: list[Any], now: datetime) -> dict[str, Any]:
    unit = a.unit or "count"
    annotations = dict(a.annotations or {})
    labels = dict(a.labels)
    silenced = any(s.status(now) == "active" and s.matches(labels) for s in silences)
    return {
        "rule": a.rule,
        "fingerprint": a.fingerprint,
        "state": a.state,
        "level": a.level,
        "title": annotations.get("title") or a.rule,
        "summary": annotations.get("summary") or "",
        "labels": {str(k): str(v) for k, v in dict(a.labels).items()},
        "value": format_value(a.value, unit),
        "threshold": format_value(a.threshold, unit),
        "since": _ts(a.active_since),
        "fired_at": _ts(a.fired_at),
        "resolved_at": _ts(a.resolved_at),
        "silenced": silenced,
    }


def _transition(t: Any) -> dict[str, Any]:
    return {
        "ts": _ts(t.ts),
        "rule": t.rule,
        "labels": {str(k): str(v) for k, v in dict(t.labels).items()},
        "from_state": t.from_state,
        "to_state": t.to_state,
        "level": t.level,
    }


def _silence(s: Any, now: datetime) -> dict[str, Any]:
    matchers = [
        f"{m.name}{'=' if m.is_equal else '!='}{'~' if m.is_regex else ''}{m.value}"
        for m in s.matchers
    ]
    return {
        "id": str(s.id),
        "matchers": matchers,
        "starts_at": _ts(s.starts_at),
        "ends_at": _ts(s.ends_at),
        "created_by": s.created_by,
        "comment": s.comment,
        "status": s.status(now),
    }


def _for_service(labels: dict[str, str], service: str | None) -> bool:
    return service is None or labels.get("service") in (None, service)


def alerts_table(store: Store, service: str | None, limit: int = 15) -> dict[str, Any]:
    """Firing and pending alerts, recent transitions and active silences."""
    api = alerts_api()
    if api is None:
        return {"available": False, "reason": "the alerts package is not installed"}
    now = datetime.now(UTC)
    try:
        active = list(api.list_silences(store, active=True))
        alerts = [_alert(a, active, now) for a in api.current_alerts(store)]
        recent = [_transition(t) for t in api.recent_transitions(store, limit=limit * 3)]
        silences = [_silence(s, now) for s in active]
    except Exception:  # an alerts schema not migrated yet must not break the overview
        log.exception("reading alerts failed")
        return {"available": False, "reason": "alerts could not be read (see the server log)"}
    return {
        "available": True,
        "current": [a for a in alerts if _for_service(a["labels"], service)][:limit],
        "recent": [t for t in recent if _for_service(t["labels"], service)][:limit],
        "silences": silences,
        "hours": list(SILENCE_HOURS),
    }


def silence(store: Store, fingerprint: str, hours: int, user: str, comment: str) -> str:
    """Silence one current alert (its labels but ``severity``) for ``hours``; its id."""
    api = alerts_api()
    if api is None:
        raise LookupError("alerts are not available")
    found = api.current_alerts(store, include_resolved=True)
    alert = next((a for a in found if a.fingerprint == fingerprint), None)
    if alert is None:
        raise LookupError("no such alert")
    matchers = {k: v for k, v in dict(alert.labels).items() if k != "severity"}
    ends = datetime.now(UTC) + timedelta(hours=hours)
    note = comment or f"silenced from the dashboard for {hours} h"
    created = api.create_silence(store, matchers, ends_at=ends, created_by=user, comment=note)
    return str(created.id)


def expire(store: Store, silence_id: str) -> bool:
    api = alerts_api()
    if api is None:
        raise LookupError("alerts are not available")
    return bool(api.expire_silence(store, silence_id))
