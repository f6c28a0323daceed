"""The same rules as a Prometheus alerting-rules file over chatwatch's ``/metrics`` names,
for teams that run Prometheus and Alertmanager themselves.

Rates are computed from the all-time counters with ``increase()`` over the rule's own
window, so Prometheus evaluates exactly what chatwatch does; metrics that are only
exposed as gauges (instant values, means of labelled counters) use the gauge. Each
chatwatch rule becomes one Prometheus rule per level, sharing the ``alertname``; an
Alertmanager inhibit rule (``severity="critical"`` inhibits ``severity="warning"`` with the
same ``alertname`` and ``service``) gives chatwatch's one-alert-per-level behaviour.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from chatwatch.alerts.rules import Rule
from chatwatch.metrics.prometheus import COUNTED_BY, GAUGES

__all__ = ["expression", "prometheus_rules", "prometheus_rules_yaml"]


def _inc(metric: str, by: str, window: str) -> str:
    return f"sum by ({by}) (increase({metric}[{window}]))"


# catalogue metric -> (numerator, denominator, scale) over counters/histograms
_RATIOS: dict[str, tuple[str, str, float]] = {
    "error_rate": ("chat_errors_total", "chat_requests_total", 100.0),
    "cache_hit_rate": (
        "chat_cached_responses_total",
        "chat_cache_recorded_responses_total",
        100.0,
    ),
    "tokens_per_request": ("chat_request_tokens_total", "chat_requests_total", 1.0),
    "rag_success_rate": ("chat_rag_requests_found_total", "chat_rag_requests_total", 100.0),
    "reconnection_rate": ("chat_reconnected_sessions_total", "chat_sessions_total", 100.0),
    "escalation_rate": ("chat_escalated_sessions_total", "chat_sessions_total", 100.0),
    "rag_cache_hit_rate": ("chat_rag_cache_hits_total", "chat_rag_searches_total", 100.0),
    "rag_no_results_rate": ("chat_rag_no_results_total", "chat_rag_searches_total", 100.0),
    "avg_response_time_ms": (
        "chat_response_time_seconds_sum",
        "chat_response_time_seconds_count",
        1000.0,
    ),
    "llm_error_rate": ("chat_llm_errors_total", "chat_llm_calls_total", 100.0),
    "llm_avg_latency_ms": (
        "chat_llm_latency_seconds_sum",
        "chat_llm_latency_seconds_count",
        1000.0,
    ),
}
_GAUGES = {g.metric: (g.name, g.scale) for g in GAUGES}


def _by(rule: Rule) -> str:
    return ", ".join(rule.by)


def expression(rule: Rule) -> str:
    """PromQL giving the rule's metric in the catalogue's unit, per the rule's labels."""
    by = _by(rule)
    if rule.metric in _RATIOS:
        num, den, scale = _RATIOS[rule.metric]
        ratio = f"{_inc(num, by, rule.window)} / {_inc(den, by, rule.window)}"
        return f"{scale:g} * {ratio}" if scale != 1.0 else ratio
    if rule.metric in _GAUGES:
        name, scale = _GAUGES[rule.metric]
        gauge = f"max by ({by}) ({name})"
        if scale == 1.0:
            return gauge
        inverse = round(1 / scale)
        return f"{gauge} * {inverse}" if scale < 1 else f"{gauge} / {scale!r}"
    raise ValueError(f"{rule.name}: {rule.metric} has no Prometheus equivalent")


def _samples(rule: Rule) -> str | None:
    if not rule.min_samples or rule.samples_metric is None:
        return None
    counter = COUNTED_BY.get(rule.samples_metric)
    if counter is None or " " in counter or "{" in counter:
        return None
    return f"{_inc(counter, _by(rule), rule.window)} >= {rule.min_samples}"


def _duration(seconds: float) -> str:
    whole = int(seconds)
    for unit, size in (("h", 3600), ("m", 60)):
        if whole and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def _template(text: str, rule: Rule, threshold: float) -> str:
    fields = {
        "value": '{{ $value | printf "%.2f" }}',
        "threshold": f"{threshold:g}",
        "window": rule.window,
        "level": "{{ $labels.severity }}",
        "unit": rule.unit,
        "service": "{{ $labels.service }}",
        "model": "{{ $labels.model }}",
        "user_id": "{{ $labels.user_id }}",
        "metric": rule.metric,
        "rule": rule.name,
    }
    return text.format(**fields)


def _one(rule: Rule, level: str, threshold: float) -> dict[str, Any]:
    expr = f"({expression(rule)}) {rule.comparison} {threshold:g}"
    samples = _samples(rule)
    if samples:
        expr = f"{expr}\nand\n{samples}"
    out: dict[str, Any] = {"alert": rule.name, "expr": expr}
    if rule.for_s:
        out["for"] = _duration(rule.for_s)
    if rule.keep_firing_for_s:
        out["keep_firing_for"] = _duration(rule.keep_firing_for_s)
    out["labels"] = {**rule.labels, "severity": level}
    annotations = {
        "title": _template(rule.title or rule.name, rule, threshold),
        "summary": _template(rule.summary, rule, threshold),
    }
    if rule.runbook_url:
        annotations["runbook_url"] = rule.runbook_url
    out["annotations"] = annotations
    return out


def prometheus_rules(rules: Sequence[Rule], group: str = "chatwatch") -> dict[str, Any]:
    """A rules-file document: one group, a rule per chatwatch rule and level (rules on
    metrics Prometheus does not see, per-user ones, and rules by provider, a label the
    exported series do not carry, are left out)."""
    out: list[dict[str, Any]] = []
    for rule in rules:
        unseen = "user_id" in rule.by or "provider" in rule.by or rule.metric.startswith("user_")
        if not rule.enabled or unseen:
            continue
        for level, threshold in (("warning", rule.warning), ("critical", rule.critical)):
            if threshold is not None:
                out.append(_one(rule, level, threshold))
    return {"groups": [{"name": group, "rules": out}]}


def prometheus_rules_yaml(rules: Sequence[Rule], group: str = "chatwatch") -> str:
    header = (
        "# Generated by `chatwatch prometheus-rules` from chatwatch's alert rules.\n"
        "# Check with: promtool check rules FILE\n"
    )
    body = yaml.dump(prometheus_rules(rules, group), Dumper=_Dumper, sort_keys=False, width=100)
    return header + body


class _Dumper(yaml.SafeDumper):
    """Multi-line PromQL as literal blocks, readable in the file."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)
