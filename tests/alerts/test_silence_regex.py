"""Silence regexes run in RE2: a catastrophic-backtracking pattern against a crafted
service name is evaluated in linear time, and what RE2 cannot do is refused."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from alert_helpers import T0, make_settings, turns

from chatwatch.alerts import create_silence, evaluate, parse_rules
from chatwatch.alerts.model import Matcher, Silence
from chatwatch.alerts.silences import is_silenced, parse_matcher
from chatwatch.store import Store

EVIL = "([a-z]+-?)+"  # Python's re backtracks 2^n times on "aaa...a_"
RULES = parse_rules(
    {
        "rules": [
            {
                "name": "errors",
                "metric": "error_rate",
                "window": "5m",
                "by": ["service"],
                "min_samples": 1,
            }
        ]
    }
)


@pytest.mark.parametrize("length", [29, 64, 100_000])
def test_hostile_matcher_is_linear(length: int) -> None:
    """29, 64 and 100 000 characters: each a fraction of a second (re: 27 s at 29)."""
    silence = [Matcher("service", EVIL, is_regex=True)]
    labels = {"service": "a" * (length - 1) + "_"}
    start = time.monotonic()
    for _ in range(100):
        assert not is_silenced([_silence(silence)], labels)
    assert time.monotonic() - start < 1.0
    assert is_silenced([_silence(silence)], {"service": "svc-a-b"})


def test_alert_round_with_a_hostile_silence_and_service(store: Store, db_url: str) -> None:
    """An admin's backtracking silence and a firing alert on a crafted 64-character service:
    the round ends at once and the alert is notified (the silence does not match it)."""
    service = "a" * 63 + "_"
    turns(store, T0, 5, failed=5, service=service)
    now = datetime.fromtimestamp(T0, UTC)
    create_silence(
        store, [parse_matcher(f"service=~{EVIL}")], ends_at=now + timedelta(hours=1), now=now
    )
    start = time.monotonic()
    result = evaluate(store, make_settings(db_url), RULES, now=T0 + 10, deliver=False)
    assert time.monotonic() - start < 5.0
    (state,) = [s for s in result.states if s.labels.get("service") == service]
    assert state.state == "firing"
    assert result.notifications == 1 and result.held == 0


@pytest.mark.parametrize("pattern", [r"(a)\1", "(?=a)a", "a" * 2000, "(a"])
def test_patterns_re2_cannot_run_are_refused(pattern: str) -> None:
    """Backreferences, lookaround, over-long and broken patterns: refused when made."""
    with pytest.raises(ValueError, match="regex"):
        parse_matcher(f"service=~{pattern}")


def _silence(matchers: list[Matcher]) -> Silence:
    now = datetime.now(UTC)
    return Silence("s", matchers, now, now + timedelta(hours=1), "t", "", now)
