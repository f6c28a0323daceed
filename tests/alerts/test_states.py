"""The state machine through real evaluations with a controlled clock."""

from __future__ import annotations

from typing import Any

import pytest
from alert_helpers import T0, llm_calls, make_settings, ratings, turns

from chatwatch.alerts import (
    create_silence,
    current_alerts,
    evaluate,
    expire_silence,
    parse_rules,
    recent_transitions,
)
from chatwatch.alerts.model import from_ts
from chatwatch.alerts.rules import Rule
from chatwatch.store import Store

MIN = 60.0


def rules(**fields: Any) -> list[Rule]:
    base = {
        "name": "errors",
        "metric": "error_rate",
        "warning": 5,
        "critical": 10,
        "window": "5m",
        "min_samples": 10,
    }
    return parse_rules({"rules": [{**base, **fields}]})


def notified(store: Store, rs: list[Rule], now: float, **settings: Any) -> list[str]:
    """Evaluate once; the ``status/reason`` of each alert notified."""
    result = evaluate(store, make_settings(_url(store), **settings), rs, now=now)
    return [f"{a['status']}/{a['reason']}" for g in result.groups for a in g["alerts"]]


def _url(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def test_pending_is_not_notified_and_for_is_honoured(sqlite_store: Store) -> None:
    """With for=2m an alert is pending (silent) until the condition held 2 minutes."""
    rs = rules(**{"for": "2m"})
    for minute in range(4):
        turns(sqlite_store, T0 + minute * MIN, 20, failed=4)
    assert notified(sqlite_store, rs, T0 + 10) == []
    assert [a.state for a in current_alerts(sqlite_store)] == ["pending"]
    assert notified(sqlite_store, rs, T0 + MIN + 10) == []
    assert notified(sqlite_store, rs, T0 + 2 * MIN + 10) == ["firing/new"]
    alert = current_alerts(sqlite_store)[0]
    assert (alert.state, alert.level, alert.value, alert.threshold) == (
        "firing",
        "critical",
        20.0,
        10.0,
    )
    assert alert.labels == {"alertname": "errors", "service": "api", "severity": "critical"}


def test_pending_that_clears_never_notifies(sqlite_store: Store) -> None:
    """A condition shorter than `for` goes pending → inactive without a notification."""
    rs = rules(**{"for": "5m"})
    turns(sqlite_store, T0, 20, failed=4)
    assert notified(sqlite_store, rs, T0 + 10) == []
    turns(sqlite_store, T0 + MIN, 500)  # dilutes the error rate below 5 %
    assert notified(sqlite_store, rs, T0 + MIN + 10) == []
    assert current_alerts(sqlite_store) == []
    moves = [(t.from_state, t.to_state) for t in recent_transitions(sqlite_store)]
    assert moves == [("pending", "inactive"), ("inactive", "pending")]


def test_min_samples_guard(sqlite_store: Store) -> None:
    """Two requests with one error are not a 50 % error rate alert."""
    turns(sqlite_store, T0, 2, failed=1)
    assert notified(sqlite_store, rules(), T0 + 10) == []
    assert current_alerts(sqlite_store) == []


def test_repeat_interval_and_resolved_once(sqlite_store: Store) -> None:
    """Still firing: silent until repeat_interval; cleared: one resolved notice, then quiet."""
    rs = rules()
    turns(sqlite_store, T0, 20, failed=3)  # 15 %: critical
    assert notified(sqlite_store, rs, T0 + 10) == ["firing/new"]
    assert notified(sqlite_store, rs, T0 + 70, alert_repeat_interval_s=120) == []
    turns(sqlite_store, T0 + 2 * MIN, 20, failed=3)
    assert notified(sqlite_store, rs, T0 + 130, alert_repeat_interval_s=120) == ["firing/repeat"]
    # the window (5 m) slides past the errors; keep_firing_for is 0
    assert notified(sqlite_store, rs, T0 + 10 * MIN) == ["resolved/resolved"]
    assert notified(sqlite_store, rs, T0 + 11 * MIN) == []
    assert current_alerts(sqlite_store) == []
    resolved = current_alerts(sqlite_store, include_resolved=True)[0]
    assert resolved.state == "resolved" and resolved.resolved_at == from_ts(T0 + 10 * MIN)


def test_escalation_notifies_at_once(sqlite_store: Store) -> None:
    """Warning → critical is notified immediately, not at the next repeat."""
    rs = rules()
    turns(sqlite_store, T0, 100, failed=7)  # 7 %: warning
    assert notified(sqlite_store, rs, T0 + 10) == ["firing/new"]
    turns(sqlite_store, T0 + MIN, 100, failed=30)  # 37/200: critical
    assert notified(sqlite_store, rs, T0 + MIN + 10) == ["firing/escalated"]
    assert current_alerts(sqlite_store)[0].level == "critical"


def test_flapping_does_not_spam(sqlite_store: Store) -> None:
    """A metric hovering around the threshold, with keep_firing_for, notifies once."""
    rs = rules(window="1m", keep_firing_for="10m", warning=5, critical=50)
    sent: list[str] = []
    for minute in range(12):
        bad = minute % 2 == 0
        turns(sqlite_store, T0 + minute * MIN, 20, failed=2 if bad else 0)
        sent += notified(sqlite_store, rs, T0 + minute * MIN + 30)
    assert sent == ["firing/new"]
    assert current_alerts(sqlite_store)[0].state == "firing"


def test_keep_firing_for_then_resolves(sqlite_store: Store) -> None:
    """After the condition clears, the alert keeps firing for keep_firing_for, then resolves."""
    rs = rules(window="1m", keep_firing_for="3m")
    turns(sqlite_store, T0, 20, failed=4)
    assert notified(sqlite_store, rs, T0 + 30) == ["firing/new"]
    for minute in (1, 2):
        assert notified(sqlite_store, rs, T0 + minute * MIN + 30) == []
        assert current_alerts(sqlite_store)[0].state == "firing"
    assert notified(sqlite_store, rs, T0 + 3 * MIN + 30) == ["resolved/resolved"]


def test_silence_holds_then_releases(sqlite_store: Store) -> None:
    """A matching silence holds the notification; once expired, the alert is notified."""
    rs = rules(window="1h")
    create_silence(
        sqlite_store,
        {"alertname": "errors", "service": "api"},
        starts_at=from_ts(T0 - MIN),
        ends_at=from_ts(T0 + 3600),  # type: ignore[arg-type]
        created_by="ana",
        comment="deploy",
        now=from_ts(T0 - MIN),
    )
    turns(sqlite_store, T0, 20, failed=4)
    assert notified(sqlite_store, rs, T0 + 10) == []
    assert current_alerts(sqlite_store)[0].state == "firing"  # still listed
    assert notified(sqlite_store, rs, T0 + MIN + 10) == []
    turns(sqlite_store, T0 + 3540, 20, failed=4)  # still failing when the silence ends
    assert notified(sqlite_store, rs, T0 + 3600 + 10) == ["firing/new"]


def test_silence_for_other_service_does_not_hold(sqlite_store: Store) -> None:
    """Matchers must all match: a silence for another service holds nothing."""
    rs = rules(window="1h")
    silence = create_silence(
        sqlite_store,
        {"alertname": "errors", "service": "billing"},
        starts_at=from_ts(T0 - MIN),
        ends_at=from_ts(T0 + 3600),  # type: ignore[arg-type]
        now=from_ts(T0 - MIN),
    )
    turns(sqlite_store, T0, 20, failed=4)
    assert notified(sqlite_store, rs, T0 + 10) == ["firing/new"]
    assert expire_silence(sqlite_store, silence.id, now=from_ts(T0 + 20))
    assert not expire_silence(sqlite_store, silence.id, now=from_ts(T0 + 30))


def test_restart_keeps_state_and_does_not_resend(db_url: str) -> None:
    """A new process (a new Store on the same database) sees the firing alert, sends nothing."""
    rs = rules()
    first = Store(db_url)
    turns(first, T0, 20, failed=4)
    assert notified(first, rs, T0 + 10) == ["firing/new"]
    first.close()
    second = Store(db_url)
    try:
        assert notified(second, rs, T0 + 70) == []
        alert = current_alerts(second)[0]
        assert (alert.state, alert.fired_at) == ("firing", from_ts(T0 + 10))
    finally:
        second.close()


def test_per_service_and_per_model_label_sets(sqlite_store: Store) -> None:
    """Alerts are split by service, and by model for per-model rules."""
    turns(sqlite_store, T0, 20, failed=4, service="api")
    turns(sqlite_store, T0, 20, failed=0, service="web")
    llm_calls(sqlite_store, T0, 25, "llama-8b", 300)
    llm_calls(sqlite_store, T0, 25, "llama-70b", 2600)
    rs = [
        *rules(),
        *parse_rules(
            {
                "rules": [
                    {
                        "name": "llm_slow",
                        "metric": "llm_avg_latency_ms",
                        "warning": 2000,
                        "by": ["service", "model"],
                        "min_samples": 20,
                    }
                ]
            }
        ),
    ]
    sent = evaluate(sqlite_store, make_settings(_url(sqlite_store)), rs, now=T0 + 10)
    firing = {
        (a.rule, a.labels.get("service"), a.labels.get("model"))
        for a in current_alerts(sqlite_store)
    }
    assert firing == {("errors", "api", None), ("llm_slow", "api", "llama-70b")}
    assert sent.worst == "critical"
    assert sorted(g["rule"] for g in sent.groups) == ["errors", "llm_slow"]


def test_low_side_rule(sqlite_store: Store) -> None:
    """A '<' rule (satisfaction < 3.5) fires when the value is below the threshold."""
    ratings(sqlite_store, T0, [2, 3, 3, 4, 2, 3, 3, 2, 4, 3])
    rs = parse_rules(
        {
            "rules": [
                {"name": "unhappy", "metric": "satisfaction", "window": "24h", "min_samples": 10}
            ]
        }
    )
    assert notified(sqlite_store, rs, T0 + 10) == ["firing/new"]
    alert = current_alerts(sqlite_store)[0]
    assert alert.value == pytest.approx(2.9) and alert.threshold == 3.5


def test_removed_rule_resolves(sqlite_store: Store) -> None:
    """An alert whose rule is gone from the file resolves instead of firing forever."""
    turns(sqlite_store, T0, 20, failed=4)
    notified(sqlite_store, rules(), T0 + 10)
    other = rules(name="other", metric="avg_response_time_ms", warning=9000, critical=None)
    notified(sqlite_store, other, T0 + 70)
    assert current_alerts(sqlite_store) == []
    assert recent_transitions(sqlite_store, rule="errors")[0].to_state == "resolved"


def test_history_filters(sqlite_store: Store) -> None:
    """History is newest first and filterable by rule, service and time."""
    turns(sqlite_store, T0, 20, failed=4, service="api")
    turns(sqlite_store, T0, 20, failed=4, service="web")
    notified(sqlite_store, rules(), T0 + 10)
    assert len(recent_transitions(sqlite_store)) == 2
    only = recent_transitions(sqlite_store, service="web")
    assert [t.labels["service"] for t in only] == ["web"]
    assert recent_transitions(sqlite_store, rule="nope") == []
    assert recent_transitions(sqlite_store, since=from_ts(T0 + 20)) == []
