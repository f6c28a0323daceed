"""Evaluation: read every rule's metric through the catalogue, advance each alert's state,
and turn what changed into notifications.

One round: the metric reads happen first, outside any write; then one write transaction
loads the states, steps them, records transitions and writes the notifications to the
outbox, so state and "notified" can never disagree. Delivery follows, per channel. On
PostgreSQL a session advisory lock makes sure only one process evaluates at a time (the
server's replicas: one leader holds it across rounds, alerts/leader.py); on
SQLite the write transaction serialises processes (a ``chatwatch check`` from cron next to
``chatwatch serve`` sees the server's last round and does not notify twice).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import text

from chatwatch.alerts.leader import LOCK_KEY, Leadership
from chatwatch.alerts.model import fingerprint
from chatwatch.alerts.notify import Delivery, channels, deliver_due, enqueue, log_group
from chatwatch.alerts.notify.alertmanager import alertmanager_alert, push_alertmanager
from chatwatch.alerts.notify.links import absolute, dashboard_link
from chatwatch.alerts.reload import RulesSource, watch_sighup
from chatwatch.alerts.rules import Rule, load_rules
from chatwatch.alerts.sampling import Sample, sample_rules
from chatwatch.alerts.silences import active_silences, is_silenced
from chatwatch.alerts.state import (
    StateRow,
    level_rank,
    load_states,
    record_transition,
    save_state,
    step,
)
from chatwatch.config import Settings
from chatwatch.metrics import Catalogue
from chatwatch.store import Store

__all__ = ["Evaluation", "Round", "alert_task", "evaluate", "evaluation_lock", "leadership"]

log = logging.getLogger("chatwatch.alerts")


@dataclass(frozen=True)
class Evaluation:
    """One rule over one label set at one evaluation, as ``chatwatch check`` shows it:
    ``ok``, ``no data`` (no samples, or fewer than ``min_samples``), ``pending``,
    ``firing`` or ``resolved``."""

    rule: str
    labels: dict[str, str]
    status: str
    value: float | None
    unit: str
    threshold: float | None = None
    samples: float | None = None


@dataclass
class Round:
    """What one evaluation did."""

    evaluated_at: float
    states: list[StateRow] = field(default_factory=list)
    evaluations: list[Evaluation] = field(default_factory=list)
    transitions: int = 0
    notifications: int = 0  # groups written to the outbox (or logged when no channel)
    groups: list[dict[str, Any]] = field(default_factory=list)  # what was notified
    held: int = 0  # alerts whose notification a silence held back
    delivery: Delivery = field(default_factory=Delivery)
    pushed: list[dict[str, Any]] = field(default_factory=list)  # to Alertmanager this round
    skipped: bool = False  # another process holds the evaluation lock

    @property
    def worst(self) -> str:
        """``ok``, ``warning`` or ``critical``: the highest level firing."""
        rank = max((level_rank(s.level) for s in self.states if s.state == "firing"), default=0)
        return ("ok", "warning", "critical")[rank]


@contextmanager
def evaluation_lock(store: Store) -> Iterator[bool]:
    """True when this process may evaluate (always, except on a busy PostgreSQL)."""
    if store.dialect != "postgresql":
        yield True
        return
    with store.engine.connect() as conn:
        got = bool(conn.execute(text(f"SELECT pg_try_advisory_lock({LOCK_KEY})")).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(text(f"SELECT pg_advisory_unlock({LOCK_KEY})"))
                conn.commit()


@contextmanager
def _held() -> Iterator[bool]:
    yield True


def evaluate(
    store: Store,
    settings: Settings,
    rules: Sequence[Rule] | None = None,
    *,
    now: float | None = None,
    deliver: bool = True,
    process_rules: bool = True,
    dry: bool = False,
    locked: bool = False,
) -> Round:
    """One evaluation of every rule, its notifications, and delivery of what is due.

    ``process_rules=False`` (``chatwatch check``) leaves the rules on this process's own
    CPU and memory to the server: a cron job's memory says nothing about the server's.
    ``dry`` evaluates from the stored states but stores, logs and delivers nothing (an
    ad-hoc ``check --rules`` must not write into the dashboard's history).
    ``locked``: the caller holds the evaluation lock already (the server's leader).
    """
    now = time.time() if now is None else now
    rules = list(load_rules(settings.rules_file) if rules is None else rules)
    with _held() if locked else evaluation_lock(store) as allowed:
        if not allowed:
            # another process is evaluating: report the states it keeps
            with store.read() as conn:
                stored = sorted(load_states(conn).values(), key=lambda r: (r.rule, r.fingerprint))
            return Round(evaluated_at=now, states=stored, skipped=True)
        result = _evaluate(store, settings, rules, now, process_rules, dry)
        if deliver and not dry:
            result.delivery = deliver_due(store, settings, now)
            push_alertmanager(result.pushed, settings)
    return result


@contextmanager
def _transaction(store: Store, dry: bool) -> Iterator[Any]:
    """The round's write transaction; a dry round's is rolled back."""
    if not dry:
        with store.write() as conn:
            yield conn
        return
    with store.engine.connect() as conn:
        tx = conn.begin()
        try:
            yield conn
        finally:
            tx.rollback()


def _evaluate(
    store: Store,
    settings: Settings,
    rules: list[Rule],
    now: float,
    process_rules: bool,
    dry: bool = False,
) -> Round:
    catalogue = Catalogue(store, settings, clock=lambda: now)
    by_name = {r.name: r for r in rules if r.enabled and (process_rules or not r.process)}
    kept = {r.name for r in rules if r.enabled}
    with store.read() as conn:
        stored = load_states(conn)
    watched = {k: row for k, row in stored.items() if row.state in ("pending", "firing")}
    samples = sample_rules(catalogue, list(by_name.values()), watched.values())
    result = Round(evaluated_at=now)
    configured = list(channels(settings))
    push = bool(settings.alertmanager_urls)
    with _transaction(store, dry) as conn:
        states = load_states(conn)
        silences = active_silences(conn, now)
        outgoing: dict[str, list[dict[str, Any]]] = {}
        for rule_name, rule_samples in samples.items():
            rule = by_name[rule_name]
            repeat = rule.repeat_interval_s or settings.alert_repeat_interval_s
            if not rule_samples:
                result.evaluations.append(Evaluation(rule_name, {}, "no data", None, rule.unit))
            for sample in rule_samples:
                if sample.summary:  # the label sets past max_series: shown, never alerted
                    result.evaluations.append(
                        Evaluation(
                            rule_name,
                            sample.labels,
                            "summary",
                            sample.value,
                            rule.unit,
                            rule.threshold(None),
                            sample.samples,
                        )
                    )
                    continue
                row = _advance(conn, states, rule, sample, now, result)
                result.evaluations.append(_evaluation(rule, sample, row))
                pushed = alertmanager_alert(row, rule, settings, now) if push else None
                if pushed is not None and not is_silenced(silences, pushed["labels"]):
                    result.pushed.append(pushed)
                entry = _notification(row, rule, now, repeat, settings)
                if entry is not None:
                    silenced = is_silenced(silences, row.labels_with_level())
                    _mark_notified(conn, row, entry, silenced, now)
                    if silenced:
                        result.held += 1
                    else:
                        outgoing.setdefault(rule_name, []).append(entry)
        _retire(conn, states, kept, now, result)
        groups = [
            {"rule": name, "created_at": now, "alerts": alerts}
            for name, alerts in sorted(outgoing.items())
        ]
        for group in groups:
            enqueue(conn, group, configured, now)
        result.states = sorted(states.values(), key=lambda r: (r.rule, r.fingerprint))
    for group in groups if not dry else ():
        log_group(group)
    result.notifications = len(groups)
    result.groups = groups
    return result


def _advance(
    conn: Any,
    states: dict[tuple[str, str], StateRow],
    rule: Rule,
    sample: Sample,
    now: float,
    result: Round,
) -> StateRow:
    fp = fingerprint({"alertname": rule.name, **sample.labels})
    row = states.get((rule.name, fp))
    if row is None:
        row = StateRow(rule.name, fp, {"alertname": rule.name, **sample.labels, **rule.labels})
    before = (row.state, row.level)
    changed = step(row, rule, sample.value, sample.enough, now)
    if not row.stored and row.state == "inactive":
        return row  # never active: nothing to keep
    states[(rule.name, fp)] = row
    if row.last_active_at == now or not row.annotations:
        # a resolved alert keeps the words of its last active evaluation (Alertmanager's way)
        row.annotations = sample.annotations(rule, row.level or row.notified_level, row.threshold)
    if changed:
        result.transitions += 1
        record_transition(conn, row, before[0], before[1], now)
    save_state(conn, row)
    return row


def _evaluation(rule: Rule, sample: Sample, row: StateRow) -> Evaluation:
    no_data = sample.value is None or not sample.enough
    if row.state in ("pending", "firing") or (
        row.state == "resolved" and row.evaluated_at == row.resolved_at
    ):
        status = str(row.state)
    else:
        status = "no data" if no_data else "ok"
    return Evaluation(
        rule.name,
        dict(sample.labels),
        status,
        sample.value,
        rule.unit,
        row.threshold if row.state in ("pending", "firing") else rule.threshold(None),
        sample.samples,
    )


def _mark_notified(
    conn: Any, row: StateRow, entry: dict[str, Any], silenced: bool, now: float
) -> None:
    """Record what was sent. A silence holds a firing notice back (``notified_at`` stays
    empty, so it goes out when the silence ends) and drops a resolved one."""
    if entry["status"] == "resolved":
        row.notified_at = row.notified_level = None
    elif not silenced:
        row.notified_at, row.notified_level = now, row.level
    else:
        return
    save_state(conn, row)


def _notification(
    row: StateRow, rule: Rule, now: float, repeat_interval_s: float, settings: Settings
) -> dict[str, Any] | None:
    """The alert's entry in a notification, if one is due now."""
    if row.state == "firing":
        if row.notified_at is None:
            reason = "new"
        elif level_rank(row.level) > level_rank(row.notified_level):
            reason = "escalated"
        elif now - row.notified_at >= repeat_interval_s:
            reason = "repeat"
        else:
            return None
        return _entry(row, rule, "firing", reason, settings)
    if row.state == "resolved" and row.notified_at is not None:
        return _entry(row, rule, "resolved", "resolved", settings)
    return None


def _entry(
    row: StateRow, rule: Rule, status: str, reason: str, settings: Settings
) -> dict[str, Any]:
    """An alert's part of a notification; every URL in it is absolute (public_url)."""
    level = row.level or row.notified_level
    annotations = dict(row.annotations)
    if annotations.get("runbook_url"):
        annotations["runbook_url"] = absolute(annotations["runbook_url"], settings)
    return {
        "status": status,
        "reason": reason,
        "rule": rule.name,
        "metric": rule.metric,
        "fingerprint": row.fingerprint,
        "labels": {**row.labels, **({"severity": level} if level else {})},
        "annotations": annotations,
        "dashboard_url": dashboard_link(row.labels, settings, rule.window),
        "level": level,
        "value": row.value,
        "threshold": row.threshold,
        "op": rule.comparison,
        "unit": row.unit,
        "window": rule.window,
        "starts_at": row.fired_at or row.active_since,
        "ends_at": row.resolved_at,
    }


def _retire(
    conn: Any,
    states: dict[tuple[str, str], StateRow],
    rules: set[str],
    now: float,
    result: Round,
) -> None:
    """Alerts of rules that were removed or disabled resolve (quietly)."""
    for row in states.values():
        if row.rule not in rules and row.state in ("pending", "firing"):
            before = (row.state, row.level)
            row.state, row.level, row.resolved_at, row.evaluated_at = "resolved", None, now, now
            row.notified_at = row.notified_level = None
            record_transition(conn, row, before[0], before[1], now)
            save_state(conn, row)
            result.transitions += 1


class _HasStore(Protocol):
    store: Store
    settings: Settings


def leadership(st: _HasStore) -> Leadership:
    """The app's hold on the evaluation lock (made on first use; see alerts/leader.py)."""
    extras: dict[str, Any] = getattr(st, "extras", {})
    leader = extras.get("alert_leader")
    if leader is None:
        leader = extras["alert_leader"] = Leadership(st.store)
    assert isinstance(leader, Leadership)
    return leader


async def alert_task(st: _HasStore, clock: Callable[[], float] = time.time) -> None:
    """The server's loop: a round every ``alert_evaluation_interval_s`` (the first one an
    interval after start), evaluated only while this replica leads. A failing round is
    logged and the loop goes on. The rules are those ``create_app`` validated at start
    (``extras["alert_rules"]``). The lock is released when the loop is cancelled."""
    extras = getattr(st, "extras", {})
    rules = extras.get("alert_rules") or load_rules(st.settings.rules_file)
    source = RulesSource(st.settings.rules_file, rules, extras, st.settings.rules_reload)
    extras["rules_source"] = source
    watch_sighup(source)
    interval = st.settings.alert_evaluation_interval_s
    leader = leadership(st)
    try:
        await _rounds(st, leader, source, interval, clock)
    finally:
        await asyncio.to_thread(leader.release)


async def _rounds(
    st: _HasStore,
    leader: Leadership,
    source: RulesSource,
    interval: float,
    clock: Callable[[], float],
) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            rules = await asyncio.to_thread(source.current)
            if not await asyncio.to_thread(leader.acquire):
                continue
            now = clock()
            done = await asyncio.to_thread(
                evaluate, st.store, st.settings, rules, now=now, locked=True
            )
            leader.evaluated(now)
            getattr(st, "extras", {})["last_round"] = done  # for GET /api/v1/alerts/status
            if done.transitions or done.notifications:
                log.info(
                    "alerts: %d transitions, %d notifications, %d delivered, %d failed",
                    done.transitions,
                    done.notifications,
                    done.delivery.sent,
                    done.delivery.failed,
                )
        except Exception:
            log.exception("alert evaluation failed; retrying next interval")
