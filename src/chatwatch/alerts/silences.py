"""Silences: matchers and a time range during which matching alerts are not notified.

A silenced alert still changes state and is still listed; only its notifications are
held back, and a firing alert whose silence ends is notified at the next evaluation.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select, update

from chatwatch.alerts.model import Matcher, Silence, from_ts, to_ts
from chatwatch.alerts.regex import compile_matcher
from chatwatch.store import Store
from chatwatch.store.schema import alert_silences

__all__ = [
    "active_silences",
    "create_silence",
    "expire_silence",
    "is_silenced",
    "list_silences",
    "parse_matcher",
]

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


def parse_matcher(text: str) -> Matcher:
    """``name=value``, ``name!=value``, ``name=~regex`` or ``name!~regex`` (amtool's form)."""
    match = _MATCHER.match(text)
    if not match:
        raise ValueError(f"matcher {text!r} must look like name=value, name!=value or name=~regex")
    name, op, value = match.groups()
    value = value.strip("\"'")
    matcher = Matcher(name, value, is_regex="~" in op, is_equal=op in ("=", "=~"))
    _check(matcher)
    return matcher


def _check(matcher: Matcher) -> None:
    if not matcher.name:
        raise ValueError("a matcher needs a label name")
    if matcher.is_regex:
        try:
            compile_matcher(matcher.value)
        except ValueError as exc:
            raise ValueError(f"matcher {matcher.name}: {exc}") from None


def _matchers(given: Mapping[str, str] | Iterable[Matcher]) -> list[Matcher]:
    if isinstance(given, Mapping):
        found = [Matcher(str(k), str(v)) for k, v in given.items()]
    else:
        found = list(given)
    if not found:
        raise ValueError("a silence needs at least one matcher")
    for matcher in found:
        _check(matcher)
    return found


def create_silence(
    store: Store,
    matchers: Mapping[str, str] | Iterable[Matcher],
    *,
    ends_at: datetime,
    starts_at: datetime | None = None,
    created_by: str = "",
    comment: str = "",
    now: datetime | None = None,
) -> Silence:
    """Store a silence; a plain dict means equality matchers."""
    now = now or datetime.now(UTC)
    starts = starts_at or now
    if to_ts(ends_at) <= to_ts(starts):
        raise ValueError("ends_at must be after starts_at")
    silence = Silence(
        id=str(uuid.uuid4()),
        matchers=_matchers(matchers),
        starts_at=from_ts(to_ts(starts)) or now,
        ends_at=from_ts(to_ts(ends_at)) or now,
        created_by=created_by[:128],
        comment=comment,
        created_at=now,
    )
    with store.write() as conn:
        conn.execute(
            insert(alert_silences).values(
                id=silence.id,
                matchers=json.dumps([m.__dict__ for m in silence.matchers]),
                starts_at=to_ts(silence.starts_at),
                ends_at=to_ts(silence.ends_at),
                created_by=silence.created_by,
                comment=silence.comment,
                created_at=to_ts(now),
            )
        )
    return silence


def _silence(record: object) -> Silence:
    r = record._mapping  # type: ignore[attr-defined]
    return Silence(
        id=r["id"],
        matchers=[Matcher(**m) for m in json.loads(r["matchers"])],
        starts_at=from_ts(r["starts_at"]),  # type: ignore[arg-type]
        ends_at=from_ts(r["ends_at"]),  # type: ignore[arg-type]
        created_by=r["created_by"],
        comment=r["comment"],
        created_at=from_ts(r["created_at"]),  # type: ignore[arg-type]
    )


def active_silences(conn: Connection, now: float) -> list[Silence]:
    """Silences in force at ``now``."""
    s = alert_silences.c
    query = select(alert_silences).where(s.starts_at <= now, s.ends_at > now)
    return [_silence(r) for r in conn.execute(query)]


def list_silences(store: Store, active: bool = True, now: datetime | None = None) -> list[Silence]:
    """Silences not yet expired (pending or active), or all when ``active`` is False;
    those ending first come first."""
    ts = to_ts(now or datetime.now(UTC))
    s = alert_silences.c
    query = select(alert_silences).order_by(s.ends_at, s.id)
    if active:
        query = query.where(s.ends_at > ts)
    with store.read() as conn:
        return [_silence(r) for r in conn.execute(query)]


def expire_silence(store: Store, silence_id: str, now: datetime | None = None) -> bool:
    """End a silence now; True if it was active or pending."""
    ts = to_ts(now or datetime.now(UTC))
    s = alert_silences.c
    with store.write() as conn:
        result = conn.execute(
            update(alert_silences)
            .where(s.id == silence_id, s.ends_at > ts)
            .values(ends_at=ts, starts_at=s.starts_at)
        )
        changed = int(result.rowcount or 0) > 0
        if changed:
            # a pending silence that never started must not end before it starts
            conn.execute(
                update(alert_silences)
                .where(s.id == silence_id, s.starts_at > ts)
                .values(starts_at=ts)
            )
    return changed


def is_silenced(silences: Iterable[Silence], labels: dict[str, str]) -> bool:
    return any(s.matches(labels) for s in silences)
