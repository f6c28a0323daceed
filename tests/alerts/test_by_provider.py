"""Alerts by provider: the per-model rollups summed into providers through the model ->
provider map of the stored LLM calls; one failing provider makes exactly one alert."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count

import pytest
from alert_helpers import T0, make_settings

from chatwatch.alerts import RulesError, evaluate, parse_rules
from chatwatch.events import LLMCall
from chatwatch.metrics import Catalogue
from chatwatch.store import Store

_ids = count()
# (model, provider, calls, failed): openai fails 20 of 50 calls (40 %) over two models,
# anthropic 1 of 25, a local model recorded with no provider has too few calls to judge
CALLS = [
    ("gpt-4o", "openai", 30, 12),
    ("gpt-4o-mini", "openai", 20, 8),
    ("claude-sonnet", "anthropic", 25, 1),
    ("local-llama", None, 4, 0),
]


def _calls() -> list[LLMCall]:
    out = []
    for model, provider, n, failed in CALLS:
        for i in range(n):
            out.append(
                LLMCall(
                    id=f"p{next(_ids):06d}",
                    ts=datetime.fromtimestamp(T0 - 120 - i, UTC),
                    type="llm_call",
                    service="api",
                    model=model,
                    provider=provider,
                    success=i >= failed,
                    error_type="RateLimit" if i < failed else None,
                    input_tokens=100,
                    output_tokens=10,
                    latency_ms=200.0 + i,
                )
            )
    return out


RULE = {
    "name": "provider_errors",
    "metric": "llm_error_rate",
    "warning": 10,
    "critical": 30,
    "window": "15m",
    "for": "0s",
    "min_samples": 20,
    "by": ["service", "provider"],
    "title": "{provider} fails {value}",
}


def test_one_failing_provider_makes_one_alert(db_url: str) -> None:
    """openai at 40 % with 50 calls fires, anthropic at 4 % does not, the unknown
    provider's 4 calls are too few: one firing state, labelled provider=openai, whose
    numbers are those of an independent count of the events sent."""
    sent = _calls()
    expected: dict[str, tuple[int, int]] = {}
    for call in sent:
        provider = call.provider or "unknown"
        calls, failed = expected.get(provider, (0, 0))
        expected[provider] = (calls + 1, failed + (not call.success))
    store = Store(db_url)
    settings = make_settings(db_url)
    try:
        store.ingest(list(sent))
        cat = Catalogue(store, settings, clock=lambda: T0)
        reading = cat.per_service("15m")["api"]
        assert cat.by_provider("llm_calls", reading) == {p: n for p, (n, _) in expected.items()}
        assert cat.by_provider("llm_error_rate", reading) == {
            p: pytest.approx(100.0 * f / n) for p, (n, f) in expected.items()
        }
        # the per-model figures are untouched by the provider reading
        assert cat.by_model("llm_calls", reading)["gpt-4o"] == 30
        result = evaluate(store, settings, parse_rules({"rules": [RULE]}), now=T0, deliver=False)
    finally:
        store.close()
    (state,) = result.states
    calls, failed = expected["openai"]
    assert state.labels == {"alertname": "provider_errors", "service": "api", "provider": "openai"}
    assert (state.state, state.level) == ("firing", "critical")
    assert state.value == pytest.approx(100.0 * failed / calls) == pytest.approx(40.0)
    statuses = {e.labels["provider"]: (e.status, e.samples) for e in result.evaluations}
    assert statuses["openai"] == ("firing", 50)
    assert statuses["anthropic"][1] == 25 and statuses["anthropic"][0] != "firing"
    assert statuses["unknown"][1] == 4 and statuses["unknown"][0] != "firing"


def test_a_model_behind_two_providers_is_not_split() -> None:
    """A model recorded with two providers maps to both names joined (the rollups
    cannot split it); one recorded without a provider maps to unknown."""
    from chatwatch.store.providers import provider_map

    pairs = [("gpt-4o", "openai"), ("gpt-4o", "azure"), ("m", None), ("c", "anthropic")]
    assert provider_map(pairs) == {"gpt-4o": "azure+openai", "m": "unknown", "c": "anthropic"}


@pytest.mark.parametrize(
    "change",
    [{"metric": "error_rate"}, {"by": ["model", "provider"]}, {"labels": {"provider": "x"}}],
)
def test_bad_provider_rules_are_refused(change: dict[str, object]) -> None:
    """By provider needs a metric with a model label, is not combined with model, and
    the provider label is chatwatch's to set."""
    with pytest.raises(RulesError):
        parse_rules({"rules": [{**RULE, **change}]})


def test_a_model_behind_many_providers_keeps_a_short_label(db_url: str) -> None:
    """One model sent with 500 distinct providers, failing throughout: the alert fires
    once, labelled ``mixed`` (not 500 names joined into a 32 KB label), and counts every
    call."""
    sent = [
        LLMCall(
            id=f"m{next(_ids):06d}",
            ts=datetime.fromtimestamp(T0 - 120 - i * 0.5, UTC),
            type="llm_call",
            service="api",
            model="gpt-4o",
            provider=f"proxy-{i:03d}-" + "x" * 50,
            success=False,
            error_type="Timeout",
            latency_ms=100.0,
        )
        for i in range(500)
    ]
    store = Store(db_url)
    settings = make_settings(db_url)
    try:
        store.ingest(sent)
        result = evaluate(store, settings, parse_rules({"rules": [RULE]}), now=T0, deliver=False)
    finally:
        store.close()
    (state,) = result.states
    assert state.labels["provider"] == "mixed"
    assert (state.state, state.value) == ("firing", 100.0)
    (evaluation,) = result.evaluations
    assert evaluation.samples == 500
