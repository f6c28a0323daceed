"""Silent services: a service that had traffic and then sends nothing fires
``service_silent`` (critical) after ``silent_for`` and resolves when events return; SDK
heartbeats count as traffic."""

from __future__ import annotations

from itertools import count

import pytest
from alert_helpers import T0, make_settings, turns

from chatwatch.alerts import evaluate, load_rules, parse_rules
from chatwatch.events import Heartbeat
from chatwatch.store import Store

SILENT = [r for r in load_rules() if r.name == "service_silent"]
_ids = count()


def beat(store: Store, at: float, service: str = "api", pid: int = 1, rss: float = 300.0) -> None:
    store.ingest(
        [
            Heartbeat(
                id=f"hb{next(_ids):08d}",
                ts=at,
                type="heartbeat",
                service=service,
                host="web-1",
                pid=pid,
                memory_rss_mb=rss,
            )
        ]
    )


def _states(store: Store, db_url: str, now: float) -> list[tuple[str, str | None]]:
    done = evaluate(store, make_settings(db_url), SILENT, now=now, deliver=False)
    return [(s.state, s.level) for s in done.states]


def test_events_stop_then_return(store: Store, db_url: str) -> None:
    """Turns stop at T0: quiet at silent_for - 1 min, critical by silent_for + one
    evaluation (60 s), resolved at the first evaluation after a turn comes back."""
    turns(store, T0 - 5, 5)  # the last event, in the minute starting at T0 - 60
    fired_at = None
    for step in range(0, 13):
        now = T0 + 60 * step
        states = _states(store, db_url, now)
        if states == [("firing", "critical")]:
            fired_at = now
            break
        assert states == [], (step, states)
    assert fired_at is not None
    assert T0 - 5 + 600 - 60 <= fired_at <= T0 - 5 + 600 + 60
    assert _states(store, db_url, fired_at + 600) == [("firing", "critical")]  # still gone
    turns(store, fired_at + 610, 1)
    assert _states(store, db_url, fired_at + 660) == [("resolved", None)]


def test_heartbeats_keep_an_idle_app_from_being_silent(store: Store, db_url: str) -> None:
    """No turns for 30 minutes but a heartbeat every 15 s: never silent; the heartbeats
    stop: silent 10 minutes after the last one, to the evaluation."""
    turns(store, T0 - 5, 3)
    for i in range(0, 121):  # 30 minutes of heartbeats
        beat(store, T0 + 15 * i)
    last = T0 + 15 * 120
    for now in range(int(T0), int(last) + 1, 300):
        assert _states(store, db_url, float(now)) == []
    assert _states(store, db_url, last + 590) == []
    assert _states(store, db_url, last + 600) == [("firing", "critical")]


def test_silent_for_per_rule_and_refused_elsewhere(db_url: str) -> None:
    """silent_for sets the rule's critical threshold; it is refused on other metrics."""
    (rule,) = parse_rules(
        {"rules": [{"name": "quiet", "metric": "seconds_since_last_event", "silent_for": "2m"}]}
    )
    assert (rule.op, rule.critical, rule.warning) == (">=", 120.0, None)
    with pytest.raises(ValueError, match="silent_for"):
        parse_rules({"rules": [{"name": "x", "metric": "error_rate", "silent_for": "2m"}]})
