"""How values, times and notification groups are written for people."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

__all__ = ["dashboard_url", "fmt_number", "fmt_time", "fmt_value", "subject", "templates"]

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
        f"{k}={first['labels'][k]}" for k in ("service", "model") if k in first["labels"]
    )
    title = first["annotations"].get("title") or group["rule"]
    more = f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else ""
    return f"[{level}] {title}" + (f" [{where}]" if where else "") + more


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
