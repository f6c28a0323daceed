"""Rules: the shipped defaults, and refusal of bad rules naming the rule and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from chatwatch.alerts import RulesError, load_rules, parse_matcher, parse_rules
from chatwatch.cli import app
from chatwatch.metrics import METRICS

KPIS = {"rag_success_rate", "rag_cache_hit_rate", "tokens_per_request"}


def test_defaults_cover_every_catalogue_threshold() -> None:
    """Every metric with a default threshold but guide 003's KPI targets has a default
    rule at the same levels; the KPI targets page nobody by default."""
    rules = {r.metric: r for r in load_rules()}
    assert not KPIS & set(rules)
    for metric in METRICS:
        if metric.threshold is None or metric.name in KPIS:
            continue
        rule = rules[metric.name]
        assert rule.comparison == metric.threshold.op
        assert (rule.warning, rule.critical) == (
            metric.threshold.warning,
            metric.threshold.critical,
        )


def test_a_kpi_target_becomes_an_alert_in_one_line() -> None:
    """One line of a rules file turns a KPI target into a rule at the catalogue's target."""
    (rule,) = parse_rules(
        {"rules": [{"name": "low_rag_success_rate", "metric": "rag_success_rate"}]}
    )
    assert (rule.comparison, rule.warning, rule.critical) == ("<", 90.0, None)
    assert rule.no_data == "ok"


def test_guide_thresholds_in_defaults() -> None:
    """Guide 000's and 003's named thresholds are there, warning and critical."""
    rules = {r.name: r for r in load_rules()}
    assert (rules["high_error_rate"].warning, rules["high_error_rate"].critical) == (5, 10)
    assert (rules["slow_response_time"].warning, rules["slow_response_time"].critical) == (
        2000,
        5000,
    )
    assert rules["high_active_sessions"].critical == 90
    assert rules["low_rag_similarity"].warning == 0.5
    assert rules["high_memory_usage"].warning == 4000
    assert rules["high_llm_latency"].by == ("service", "model")


def _one(**fields: object) -> dict[str, object]:
    return {"rules": [{"name": "r1", "metric": "error_rate", "warning": 5, **fields}]}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"metric": "error_ratio"}, "metric"),
        ({"window": "fortnight"}, "window"),
        ({"for": "5 minutes"}, "for"),
        ({"keep_firing_for": "-1m"}, "keep_firing_for"),
        ({"critical": 3}, "(rule)"),
        ({"min_samples": -1}, "min_samples"),
        ({"colour": "red"}, "colour"),
        ({"by": ["region"]}, "by"),
        ({"summary": "value {valeu}"}, "summary"),
        ({"labels": {"severity": "page"}}, "labels"),
    ],
)
def test_bad_rule_names_rule_and_field(fields: dict[str, object], field: str) -> None:
    """A bad rule is refused with a message naming the rule and the field."""
    with pytest.raises(RulesError) as raised:
        parse_rules(_one(**fields), "my.yaml")
    message = str(raised.value)
    assert "my.yaml" in message and "'r1'" in message
    assert field.split(".")[0] in message


def test_min_samples_needs_a_rate() -> None:
    """min_samples on a metric that is not a rate over samples is refused."""
    data = {"rules": [{"name": "mem", "metric": "memory_usage_mb", "warning": 1, "min_samples": 5}]}
    with pytest.raises(RulesError, match="min_samples"):
        parse_rules(data)


def test_per_user_window_is_at_most_what_maintenance_keeps() -> None:
    """A per-user limit reads at most 30 days: maintenance keeps user_usage that long (and
    the hour the window rolls out to), so every allowed per-user rule stays exact."""
    from chatwatch.alerts.rules import USER_WINDOW_MAX_S
    from chatwatch.store.maintenance import USAGE_KEEP_S

    assert USAGE_KEEP_S == USER_WINDOW_MAX_S + 3600
    rule = {"name": "u", "metric": "user_llm_tokens", "warning": 1, "by": ["user_id"]}
    (ok,) = parse_rules({"rules": [{**rule, "window": "30d"}]})
    assert ok.window == "30d"
    with pytest.raises(RulesError, match="30d"):
        parse_rules({"rules": [{**rule, "window": "31d"}]})


def test_duplicate_names_refused() -> None:
    """Two rules with one name are refused."""
    data = {"rules": [{"name": "a", "metric": "error_rate"}, {"name": "a", "metric": "error_rate"}]}
    with pytest.raises(RulesError, match="used twice"):
        parse_rules(data)


def test_defaults_block_and_catalogue_levels() -> None:
    """The defaults block applies to every rule; omitted levels come from the catalogue."""
    rules = parse_rules(
        {
            "defaults": {"window": "1h", "for": "5m", "labels": {"team": "chat"}},
            "rules": [{"name": "errors", "metric": "error_rate", "labels": {"page": "yes"}}],
        }
    )
    rule = rules[0]
    assert rule.window == "1h" and rule.for_s == 300
    assert rule.labels == {"team": "chat", "page": "yes"}
    assert (rule.warning, rule.critical, rule.comparison) == (5.0, 10.0, ">")


def test_rules_check_cli(tmp_path: Path) -> None:
    """`chatwatch rules check` passes a good file and fails a bad one naming the field."""
    good = tmp_path / "good.yaml"
    good.write_text("rules:\n  - name: errors\n    metric: error_rate\n    warning: 3\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: errors\n    metric: error_rate\n    window: soon\n")
    runner = CliRunner()
    ok = runner.invoke(app, ["rules", "check", str(good)])
    assert ok.exit_code == 0, ok.output
    assert "1 rules OK" in ok.output
    failed = runner.invoke(app, ["rules", "check", str(bad)])
    assert failed.exit_code == 1
    assert "errors" in failed.output and "window" in failed.output


@pytest.mark.parametrize(
    ("text", "labels", "hit"),
    [
        ("service=api", {"service": "api"}, True),
        ("service=api", {"service": "api2"}, False),
        ("service!=api", {"service": "web"}, True),
        ("service=~api|web", {"service": "web"}, True),
        ("service=~api", {"service": "api-eu"}, False),  # regexes match the whole value
        ("model!~llama.*", {"model": "glm-4"}, True),
        ("team=chat", {}, False),
        ("team=", {}, True),  # Alertmanager: an empty value matches a missing label
    ],
)
def test_matchers(text: str, labels: dict[str, str], hit: bool) -> None:
    """Silence matchers follow Alertmanager's semantics."""
    assert parse_matcher(text).matches(labels) is hit


def test_bad_matchers_refused() -> None:
    """A matcher without an operator or with a broken regex is refused."""
    for text in ("service", "service=~(", "=api"):
        with pytest.raises(ValueError):
            parse_matcher(text)
