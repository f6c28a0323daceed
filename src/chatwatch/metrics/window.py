"""Time windows: minute-aligned [start, end) ranges that include the current minute."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

__all__ = [
    "DEFAULT_WINDOW",
    "MAX_BUCKETS",
    "WINDOWS",
    "Window",
    "capped_step",
    "explicit_window",
    "month_window",
    "parse_window",
]

WINDOWS = {
    "5m": 300,
    "15m": 900,
    "1h": 3600,
    "6h": 21600,
    "24h": 86400,
    "7d": 604800,
    "30d": 2592000,
}
DEFAULT_WINDOW = "24h"
_SPEC = re.compile(r"^(\d{1,6})([mhd])$")
_UNIT = {"m": 60, "h": 3600, "d": 86400}
# A series (chart, table) has at most this many buckets; a longer window gets a coarser
# step, so a year-1-to-9999 range costs what 2 000 days do.
MAX_BUCKETS = 2000
_STEPS = (60, 3600, 86400)


@dataclass(frozen=True)
class Window:
    start: int
    end: int
    label: str

    @property
    def seconds(self) -> int:
        return self.end - self.start


def _minute_ceil(ts: float) -> int:
    return int(ts // 60) * 60 + 60


def capped_step(window: Window, step: int, max_buckets: int = MAX_BUCKETS) -> int:
    """``step`` (60, 3600 or 86400 s), or the coarsest needed to keep the window within
    ``max_buckets`` buckets: hours, days, then whole numbers of days."""
    seconds = max(window.seconds, 1)
    for candidate in _STEPS:
        if candidate >= step and -(-seconds // candidate) <= max_buckets:
            return candidate
    days = -(-seconds // (max_buckets * 86400))
    return max(days, 1) * 86400


def parse_window(spec: str | None, now: float, first: float | None = None) -> Window:
    """``5m``, ``1h``, ``24h``, ``7d``, ``30d`` (any N with m, h or d) or ``all``: from
    ``first`` (the first stored event's time; the current minute when none)."""
    spec = (spec or DEFAULT_WINDOW).strip().lower()
    end = _minute_ceil(now)
    if spec == "all":
        start = end - 60 if first is None else min(int(first // 60) * 60, end - 60)
        return Window(start, end, "all")
    match = _SPEC.match(spec)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"window must be like 5m, 1h, 24h, 7d, 30d or 'all', not {spec!r}")
    seconds = int(match.group(1)) * _UNIT[match.group(2)]
    return Window(end - seconds, end, spec)


def explicit_window(start: datetime | date, end: datetime | date) -> Window:
    """An explicit range; dates mean whole UTC days, ``end`` date included. ``start ==
    end`` means the minute that holds that instant (a one-minute range), not an error."""
    lo = _as_ts(start, end_of_day=False)
    hi = _as_ts(end, end_of_day=True)
    if hi < lo:
        raise ValueError("end must not be before start")
    if hi == lo:
        hi = lo // 60 * 60 + 60
    return Window(int(lo // 60) * 60, -(-int(hi) // 60) * 60, "custom")


def _as_ts(value: datetime | date, *, end_of_day: bool) -> float:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.timestamp()
    day = datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    return day + 86400 if end_of_day else day


def month_window(now: float) -> Window:
    today = datetime.fromtimestamp(now, UTC)
    first = datetime(today.year, today.month, 1, tzinfo=UTC)
    return Window(int(first.timestamp()), _minute_ceil(now), "month")
