"""The alert types callers see: an alert per rule and label set, its transitions, and
silences (Alertmanager's matcher shape)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from chatwatch.alerts.regex import full_match

__all__ = [
    "Alert",
    "Level",
    "Matcher",
    "Silence",
    "State",
    "Transition",
    "fingerprint",
    "from_ts",
    "to_ts",
]

State = Literal["inactive", "pending", "firing", "resolved"]
Level = Literal["warning", "critical"]


def fingerprint(labels: dict[str, str]) -> str:
    """A stable 16-hex id of a label set, ``severity`` left out (the level may change)."""
    kept = {k: v for k, v in sorted(labels.items()) if k != "severity"}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def from_ts(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def to_ts(value: datetime) -> float:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.timestamp()


@dataclass(frozen=True)
class Alert:
    rule: str
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: State
    level: Level | None
    value: float | None
    threshold: float | None
    unit: str | None
    active_since: datetime | None
    fired_at: datetime | None
    resolved_at: datetime | None
    evaluated_at: datetime | None


@dataclass(frozen=True)
class Transition:
    id: int
    ts: datetime
    rule: str
    fingerprint: str
    labels: dict[str, str]
    from_state: State
    to_state: State
    from_level: Level | None
    level: Level | None
    value: float | None
    threshold: float | None


@dataclass(frozen=True)
class Matcher:
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        # RE2, linear time: a hostile label value cannot stall evaluation (alerts/regex.py)
        hit = full_match(self.value, actual) if self.is_regex else actual == self.value
        return hit == self.is_equal


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: list[Matcher]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def status(self, now: datetime | None = None) -> Literal["pending", "active", "expired"]:
        now = now or datetime.now(UTC)
        if now >= self.ends_at:
            return "expired"
        return "pending" if now < self.starts_at else "active"

    def matches(self, labels: dict[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)
