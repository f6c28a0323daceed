"""Alert states per rule and label set (inactive → pending → firing → resolved), kept in
the database with every transition, so a restart neither forgets a firing alert nor
sends it again.

``step`` is the pure state machine; the rest loads and saves rows inside the caller's
transaction and answers the read API (``current_alerts``, ``recent_transitions``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, insert, select, update

from chatwatch.alerts.model import Alert, Level, State, Transition, from_ts, to_ts
from chatwatch.alerts.rules import Rule
from chatwatch.store import Store
from chatwatch.store.schema import alert_history, alert_states

__all__ = [
    "StateRow",
    "current_alerts",
    "load_states",
    "recent_transitions",
    "record_transition",
    "save_state",
    "step",
]

_RANK = {None: 0, "warning": 1, "critical": 2}
_ORDER = {"firing": 0, "pending": 1, "resolved": 2, "inactive": 3}


@dataclass
class StateRow:
    """One ``alert_states`` row; times are UNIX seconds."""

    rule: str
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    state: State = "inactive"
    level: Level | None = None
    value: float | None = None
    threshold: float | None = None
    unit: str | None = None
    active_since: float | None = None
    fired_at: float | None = None
    resolved_at: float | None = None
    evaluated_at: float = 0.0
    last_active_at: float | None = None
    last_critical_at: float | None = None
    notified_at: float | None = None
    notified_level: Level | None = None
    stored: bool = False

    def labels_with_level(self) -> dict[str, str]:
        level = self.level or self.notified_level
        return {**self.labels, **({"severity": level} if level else {})}

    def to_alert(self) -> Alert:
        return Alert(
            rule=self.rule,
            fingerprint=self.fingerprint,
            labels=self.labels_with_level(),
            annotations=dict(self.annotations),
            state=self.state,
            level=self.level,
            value=self.value,
            threshold=self.threshold,
            unit=self.unit,
            active_since=from_ts(self.active_since),
            fired_at=from_ts(self.fired_at),
            resolved_at=from_ts(self.resolved_at),
            evaluated_at=from_ts(self.evaluated_at),
        )


def step(row: StateRow, rule: Rule, value: float | None, enough: bool, now: float) -> bool:
    """Advance ``row`` by one evaluation; True when its state or level changed.

    ``enough`` says whether the samples behind the value reach ``min_samples``: a value
    over too few samples counts as no data, as does no value at all. No data is not a
    crossed threshold: the rule's ``no_data`` says what it does (``ok``: nothing fires,
    ``keep``: the state stands, ``alerting``: it fires at the rule's top level).
    """
    before = (row.state, row.level)
    no_data = value is None or not enough
    if no_data and rule.no_data == "keep":
        row.evaluated_at = now  # the last value and the state stand until data returns
        return False
    row.value, row.evaluated_at, row.unit = value, now, rule.unit
    level = rule.level(value) if not no_data else None
    if no_data and rule.no_data == "alerting":
        level = rule.top_level
    if level is not None:
        _active(row, rule, level, now)
    elif row.state == "pending":
        row.state, row.level, row.active_since = "inactive", None, None
    elif row.state == "firing":
        held = row.last_active_at is not None and now - row.last_active_at < rule.keep_firing_for_s
        if not held:
            row.state, row.level, row.resolved_at = "resolved", None, now
    if row.level is not None:
        row.threshold = rule.threshold(row.level)
    return (row.state, row.level) != before


def _active(row: StateRow, rule: Rule, level: Level, now: float) -> None:
    row.last_active_at = now
    if level == "critical":
        row.last_critical_at = now
    if row.state in ("inactive", "resolved"):
        row.state, row.active_since = "pending", now
        row.fired_at = row.resolved_at = None
    if row.state == "pending" and now - (row.active_since or now) >= rule.for_s:
        row.state, row.fired_at = "firing", now
    held_critical = (
        row.state == "firing"
        and level == "warning"
        and row.level == "critical"
        and row.last_critical_at is not None
        and now - row.last_critical_at < rule.keep_firing_for_s
    )
    row.level = "critical" if held_critical else level


def _row(record: Any) -> StateRow:
    data = dict(record._mapping)
    data["labels"] = json.loads(data["labels"])
    data["annotations"] = json.loads(data["annotations"])
    return StateRow(**data, stored=True)


def load_states(conn: Connection) -> dict[tuple[str, str], StateRow]:
    """Every stored state, keyed by ``(rule, fingerprint)``."""
    return {(r.rule, r.fingerprint): r for r in map(_row, conn.execute(select(alert_states)))}


def save_state(conn: Connection, row: StateRow) -> None:
    values = {k: v for k, v in row.__dict__.items() if k not in ("rule", "fingerprint", "stored")}
    values["labels"] = json.dumps(row.labels, sort_keys=True)
    values["annotations"] = json.dumps(row.annotations, sort_keys=True)
    t = alert_states.c
    if row.stored:
        conn.execute(
            update(alert_states)
            .where(t.rule == row.rule, t.fingerprint == row.fingerprint)
            .values(**values)
        )
    else:
        conn.execute(
            insert(alert_states).values(rule=row.rule, fingerprint=row.fingerprint, **values)
        )
        row.stored = True


def record_transition(
    conn: Connection, row: StateRow, from_state: str, from_level: str | None, now: float
) -> None:
    conn.execute(
        insert(alert_history).values(
            ts=now,
            rule=row.rule,
            fingerprint=row.fingerprint,
            labels=json.dumps(row.labels, sort_keys=True),
            from_state=from_state,
            to_state=row.state,
            from_level=from_level,
            level=row.level,
            value=row.value,
            threshold=row.threshold,
        )
    )


def current_alerts(store: Store, include_resolved: bool = False) -> list[Alert]:
    """Pending and firing alerts (and resolved ones if asked), firing and critical first."""
    wanted = ["pending", "firing", *(["resolved"] if include_resolved else [])]
    with store.read() as conn:
        rows = [
            _row(r)
            for r in conn.execute(select(alert_states).where(alert_states.c.state.in_(wanted)))
        ]
    rows.sort(
        key=lambda r: (
            _ORDER[r.state],
            -_RANK[r.level],
            -(r.resolved_at or r.fired_at or r.active_since or 0.0),
            r.rule,
            r.fingerprint,
        )
    )
    return [r.to_alert() for r in rows]


def recent_transitions(
    store: Store,
    limit: int = 50,
    rule: str | None = None,
    service: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Transition]:
    """Transitions, newest first, optionally for one rule, one service, a time range."""
    h = alert_history.c
    query = select(alert_history).order_by(h.ts.desc(), h.id.desc()).limit(max(1, limit))
    if rule is not None:
        query = query.where(h.rule == rule)
    if service is not None:
        fragment = json.dumps({"service": service})[1:-1]
        query = query.where(h.labels.contains(fragment, autoescape=True))
    if since is not None:
        query = query.where(h.ts >= to_ts(since))
    if until is not None:
        query = query.where(h.ts < to_ts(until))
    with store.read() as conn:
        records = list(conn.execute(query))
    return [
        Transition(
            id=int(r.id),
            ts=cast(datetime, from_ts(r.ts)),
            rule=r.rule,
            fingerprint=r.fingerprint,
            labels=json.loads(r.labels),
            from_state=r.from_state,
            to_state=r.to_state,
            from_level=r.from_level,
            level=r.level,
            value=r.value,
            threshold=r.threshold,
        )
        for r in records
    ]


def level_rank(level: str | None) -> int:
    return _RANK.get(level, 0)
