"""Rules that fit real teams: per-user rolling limits read from the catalogue, a cap on the
label sets tracked (10 000 users do not make 10 000 alert states), per-model rules, and a
floor of samples under every ratio."""

from __future__ import annotations

import tracemalloc

from alert_helpers import T0, llm_calls, make_settings

from chatwatch.alerts import evaluate, parse_rules
from chatwatch.events import LLMCall
from chatwatch.metrics import Catalogue
from chatwatch.store import Store


def _usage(store: Store, users: int, heavy: int) -> None:
    """One call per user in the last hour: the first ``heavy`` users use 60 000 tokens
    (100 more per rank), the rest 500."""
    batch = [
        LLMCall(
            id=f"u{i:06d}",
            ts=T0 - 1800,
            type="llm_call",
            service="api",
            user_id=f"user-{i:05d}",
            model="gpt-4o-mini",
            input_tokens=60_000 + 100 * i if i < heavy else 400,
            output_tokens=100,
            latency_ms=300.0,
        )
        for i in range(users)
    ]
    for start in range(0, len(batch), 2000):
        store.ingest(batch[start : start + 2000])


PER_USER = {
    "name": "user_token_limit",
    "metric": "user_llm_tokens",
    "warning": 50_000,
    "window": "24h",
    "by": ["user_id"],
    "max_series": 20,
}


def test_ten_thousand_users_make_bounded_states(db_url: str) -> None:
    """10 000 users, 300 over the limit: 20 alert states (the 20 heaviest), one summary
    line for the other 9 980, and the round's memory stays small."""
    store = Store(db_url)
    settings = make_settings(db_url)
    rules = parse_rules({"rules": [PER_USER]})
    try:
        _usage(store, 10_000, 300)
        cat = Catalogue(store, settings, clock=lambda: T0)
        assert cat.value("user_llm_tokens", cat.reading("24h").for_user("user-00299")) == (
            60_000 + 29_900 + 100
        )
        tracemalloc.start()
        result = evaluate(store, settings, rules, now=T0, deliver=False)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        again = evaluate(store, settings, rules, now=T0 + 60, deliver=False)
    finally:
        store.close()
    firing = sorted(s.labels["user_id"] for s in result.states if s.state == "firing")
    assert firing == [f"user-{i:05d}" for i in range(280, 300)]
    assert len(again.states) == 20
    (summary,) = [e for e in result.evaluations if e.status == "summary"]
    assert summary.labels == {"user_id": "other"}
    assert summary.samples == 9_980 and summary.value == 60_000 + 27_900 + 100
    assert peak < 64 * 1_048_576, peak


def test_per_user_limit_over_30_days_and_one_user(db_url: str) -> None:
    """A 30-day cost limit sums every hour of the window; a user outside it is not there."""
    store = Store(db_url)
    settings = make_settings(db_url)
    try:
        for day in range(3):
            store.ingest(
                [
                    LLMCall(
                        id=f"c{day}",
                        ts=T0 - day * 86400 - 600,
                        type="llm_call",
                        service="api",
                        user_id="ana",
                        model="x",
                        cost_usd=4.0,
                        latency_ms=100.0,
                    )
                ]
            )
        rules = parse_rules(
            {
                "rules": [
                    {
                        "name": "user_cost_30d",
                        "metric": "user_llm_cost_usd",
                        "warning": 10,
                        "window": "30d",
                        "by": ["user_id"],
                    }
                ]
            }
        )
        result = evaluate(store, settings, rules, now=T0, deliver=False)
    finally:
        store.close()
    (state,) = result.states
    assert (state.labels["user_id"], state.state, state.value) == ("ana", "firing", 12.0)


def test_by_model_is_capped_and_ratios_have_a_floor(db_url: str) -> None:
    """Three slow models, max_series 2: the two slowest alert, the third is summarised; a
    ratio rule without min_samples gets the default floor of 10."""
    store = Store(db_url)
    settings = make_settings(db_url)
    try:
        for model, latency in (("a", 3000.0), ("b", 4000.0), ("c", 5000.0)):
            llm_calls(store, T0 - 60, 12, model, latency)
        llm_calls(store, T0 - 60, 5, "d", 9000.0)  # too few calls to judge
        rules = parse_rules(
            {
                "rules": [
                    {
                        "name": "slow_model",
                        "metric": "llm_avg_latency_ms",
                        "warning": 2000,
                        "by": ["service", "model"],
                        "max_series": 2,
                    }
                ]
            }
        )
        assert rules[0].min_samples == 10
        result = evaluate(store, settings, rules, now=T0, deliver=False)
    finally:
        store.close()
    assert sorted(s.labels["model"] for s in result.states) == ["b", "c"]
    statuses = {e.labels["model"]: e.status for e in result.evaluations}
    assert statuses == {"b": "firing", "c": "firing", "other": "summary"}
