"""Reading each rule's metric per label set, through the catalogue only.

Rules over the same window share one grouped read per service (``Catalogue.per_service``),
so evaluating every rule costs a handful of queries however many services there are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from chatwatch.alerts.notify.format import fmt_number, fmt_value
from chatwatch.alerts.rules import Rule
from chatwatch.alerts.state import StateRow
from chatwatch.metrics import Catalogue, Reading

__all__ = ["OTHER", "Sample", "sample_rules"]

OTHER = "other"
_SPLIT = ("service", "model", "provider", "user_id")


@dataclass(frozen=True)
class Sample:
    """A rule's metric for one label set (``service``, ``model``) at one evaluation."""

    labels: dict[str, str]
    value: float | None
    samples: float | None
    enough: bool
    summary: bool = False  # the label sets past max_series, as one line: never an alert

    def annotations(self, rule: Rule, level: str | None, threshold: float | None) -> dict[str, str]:
        fields = {
            "value": fmt_number(self.value, rule.unit),
            "threshold": fmt_number(
                threshold if threshold is not None else rule.threshold(level), rule.unit
            ),
            "window": rule.window,
            "level": level or "ok",
            "unit": rule.unit,
            "service": self.labels.get("service", "all"),
            "model": self.labels.get("model", "all"),
            "provider": self.labels.get("provider", "all"),
            "user_id": self.labels.get("user_id", "all"),
            "metric": rule.metric,
            "rule": rule.name,
        }
        samples = "" if self.samples is None else f", {self.samples:,.0f} samples"
        return {
            "title": rule.title.format(**fields) if rule.title else rule.name,
            "summary": rule.summary.format(**fields),
            "description": (
                f"{rule.metric} is {fmt_value(self.value, rule.unit)} over the last "
                f"{rule.window}{samples}; warning {rule.comparison} "
                f"{fmt_value(rule.warning, rule.unit)}, critical {rule.comparison} "
                f"{fmt_value(rule.critical, rule.unit)}"
            ),
            "runbook_url": rule.runbook_url,
        }


def _sample(cat: Catalogue, rule: Rule, reading: Reading, labels: dict[str, str]) -> Sample:
    value = cat.value(rule.metric, reading)
    count = cat.value(rule.samples_metric, reading) if rule.samples_metric else None
    enough = rule.min_samples == 0 or (count or 0) >= rule.min_samples
    return Sample(labels, value, count, enough)


def sample_rules(
    cat: Catalogue, rules: list[Rule], watched: Iterable[StateRow]
) -> dict[str, list[Sample]]:
    """Samples per rule name; a pending or firing alert whose label set is gone from the
    data gets a sample with no value (so it can resolve)."""
    watched = list(watched)
    services = {row.labels["service"] for row in watched if "service" in row.labels}
    per_service: dict[str, dict[str, Reading]] = {}
    overall: dict[str, Reading] = {}
    out: dict[str, list[Sample]] = {}
    for rule in rules:
        window = cat.window(rule.window)
        if "service" in rule.by:
            if rule.window not in per_service:
                per_service[rule.window] = cat.per_service(window, services)
            readings = {s: ({"service": s}, r) for s, r in per_service[rule.window].items()}
        else:
            if rule.window not in overall:
                overall[rule.window] = cat.reading(window)
            readings = {"": ({}, overall[rule.window])}
        found: list[Sample] = []
        for labels, reading in readings.values():
            if "model" in rule.by:
                per = [
                    _sample(cat, rule, reading.for_model(m), {**labels, "model": m})
                    for m in cat.by_model(rule.metric, reading)
                ]
                found.extend(_capped(rule, per, labels, "model"))
            elif "provider" in rule.by:
                by = cat.provider_reading(rule.metric, reading)
                per = [
                    _sample(cat, rule, by.for_model(p), {**labels, "provider": p})
                    for p in cat.by_model(rule.metric, by)
                ]
                found.extend(_capped(rule, per, labels, "provider"))
            elif "user_id" in rule.by:
                per = [
                    Sample({**labels, "user_id": user}, value, None, True)
                    for user, value in cat.by_user(rule.metric, reading).items()
                ]
                found.extend(_capped(rule, per, labels, "user_id"))
            else:
                found.append(_sample(cat, rule, reading, labels))
        seen = {tuple(sorted(s.labels.items())) for s in found}
        for row in watched:
            if row.rule != rule.name:
                continue
            labels = {k: v for k, v in row.labels.items() if k in _SPLIT}
            if tuple(sorted(labels.items())) not in seen:
                found.append(Sample(labels, None, None, False))
        out[rule.name] = found
    return out


def _capped(rule: Rule, samples: list[Sample], base: dict[str, str], label: str) -> list[Sample]:
    """The ``max_series`` worst label sets (highest for ``>``, lowest for ``<``, those
    with too few samples last), and the rest as one summary (``label="other"``) that
    never becomes an alert: 10 000 users make at most ``max_series`` alert states."""
    if len(samples) <= rule.max_series:
        return samples
    high = rule.comparison.startswith(">")

    def badness(s: Sample) -> tuple[int, float]:
        if s.value is None or not s.enough:
            return (0, 0.0)
        return (1, s.value if high else -s.value)

    ranked = sorted(samples, key=badness, reverse=True)
    kept, rest = ranked[: rule.max_series], ranked[rule.max_series :]
    values = [s.value for s in rest if s.value is not None and s.enough]
    worst = (max(values) if high else min(values)) if values else None
    other = Sample({**base, label: OTHER}, worst, float(len(rest)), False, summary=True)
    return [*kept, other]
