"""How values, times and notification groups are written for people."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

__all__ = [
    "dashboard_url",
    "fmt_number",
    "fmt_time",
    "fmt_value",
    "one_line",
    "slack_text",
    "subject",
    "templates",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SUBJECT_MAX = 200  # characters: a subject is a line, not a report


def one_line(value: object) -> str:
    """Label values and titles as header-safe text: control characters (CR and LF above
    all: a header injection, or an e-mail the library refuses to write) become a space."""
    return _CONTROL.sub(" ", str(value))


def slack_text(value: object) -> str:
    """Text for Slack mrkdwn: ``&``, ``<`` and ``>`` escaped (Slack's rule), so a label
    such as ``<https://evil.example/r|Reset your password>`` stays text, not a link."""
    return one_line(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_UNIT_SUFFIX = {"percent": "%", "ms": " ms", "mb": " MB", "usd": " USD", "seconds": " s"}


def fmt_number(value: float | None, unit: str | None = None) -> str:
    """``12.5``, ``2,345``, ``0.482``: as many decimals as the unit needs, no unit."""
    if value is None:
        return "n/a"
    if unit == "ratio":
        return f"{value:.3f}"
    if unit in ("rating", "usd"):
        return f"{value:,.2f}"
    if unit in ("ms", "mb", "tokens", "count") or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}"


def fmt_value(value: float | None, unit: str | None = None) -> str:
    """``12.5%``, ``2,345 ms``, ``0.482``."""
    if value is None:
        return "n/a"
    return fmt_number(value, unit) + _UNIT_SUFFIX.get(unit or "", "")


def fmt_time(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def dashboard_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/analytics/"


def subject(group: dict[str, Any]) -> str:
    """Guide 000's subjects (``[CRITICAL] High Chat Error Rate``), one line per group."""
    alerts = group["alerts"]
    firing = [a for a in alerts if a["status"] == "firing"]
    first = (firing or alerts)[0]
    if firing:
        level = "CRITICAL" if any(a["level"] == "critical" for a in firing) else "WARNING"
    else:
        level = "RESOLVED"
    where = ", ".join(
        f"{k}={first['labels'][k]}"
        for k in ("service", "model", "provider")
        if k in first["labels"]
    )
    title = first["annotations"].get("title") or group["rule"]
    more = f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else ""
    line = one_line(f"[{level}] {title}" + (f" [{where}]" if where else ""))
    if len(line) > _SUBJECT_MAX:
        line = line[: _SUBJECT_MAX - 3] + "..."
    return line + more


def templates(package: str) -> Environment:
    """Jinja2 templates shipped in ``package``/templates, HTML autoescaped."""
    env = Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=select_autoescape(["html", "html.j2"], default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["value"] = fmt_value
    env.filters["time"] = fmt_time
    return env
