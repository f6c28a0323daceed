"""Jinja2 templates (autoescaped) and the few static files the pages load."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

__all__ = ["STATIC", "STATIC_FILES", "static_url", "templates"]

_HERE = Path(__file__).parent
STATIC = _HERE / "static"
STATIC_FILES: dict[str, str] = {
    "dashboard.css": "text/css; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "rows.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
# Content hashes make each file's URL change with it, so browsers may cache it for long.
_VERSIONS = {
    name: hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]
    for name in STATIC_FILES
    if (STATIC / name).exists()
}


def static_url(base: str, name: str) -> str:
    return f"{base}/static/{name}?v={_VERSIONS.get(name, '0')}"


def _utc(ts: float | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime(fmt)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


_env = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["utc"] = _utc
_env.filters["duration"] = _duration
_env.globals["static_url"] = static_url
templates = Jinja2Templates(env=_env)
