"""The daily report's numbers, all read through the metric catalogue: the day's KPIs
against guide 003's targets (and guide 000's satisfaction and escalation levels), the
change against the day before, top topics, per-model latency and cost, the alerts that
fired, and the hourly traffic for the chart."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from chatwatch.alerts import Transition, recent_transitions
from chatwatch.alerts.rules import Rule, crossed
from chatwatch.metrics import Catalogue, explicit_window
from chatwatch.store import Filters

__all__ = [
    "TARGETS",
    "TARGET_OF",
    "Kpi",
    "ModelRow",
    "Report",
    "Target",
    "build_report",
    "model_target",
    "target_mark",
]

Mark = Literal["pass", "fail", "no data", "info"]


@dataclass(frozen=True)
class Target:
    metric: str
    label: str
    op: str | None  # None: informative, no target
    goal: float | None
    source: str


TARGETS: tuple[Target, ...] = (
    Target("total_requests", "Requests", None, None, ""),
    Target("error_rate", "Error rate", "<", 5.0, "guide 003"),
    Target("success_rate", "Success rate", ">", 95.0, "guide 003"),
    Target("avg_response_time_ms", "Avg response time", "<", 1000.0, "guide 003"),
    Target("p95_response_time_ms", "p95 response time", None, None, ""),
    Target("rag_avg_similarity", "RAG avg similarity", ">", 0.60, "guide 003"),
    Target("rag_success_rate", "RAG success rate", ">", 90.0, "guide 003"),
    Target("cache_hit_rate", "Cache hit rate", ">", 30.0, "guide 003"),
    Target("tokens_per_request", "Tokens per request", "<", 1000.0, "guide 003"),
    Target("satisfaction", "Satisfaction (1-5)", ">=", 3.5, "guide 000"),
    Target("escalation_rate", "Escalation rate", "<=", 20.0, "guide 000"),
    Target("reconnection_rate", "Reconnection rate", "<=", 10.0, "guide 000"),
    Target("sessions", "Sessions", None, None, ""),
    Target("messages_per_session", "Messages per session", None, None, ""),
    Target("llm_cost_usd", "LLM cost", None, None, ""),
)
# the metrics that have a target, for outputs that judge a figure (the dashboard's KPIs)
TARGET_OF: dict[str, Target] = {t.metric: t for t in TARGETS if t.op is not None}


def target_mark(target: Target, value: float | None) -> Mark:
    """A figure against its target: pass, fail, no data, or info (no target)."""
    if target.op is None or target.goal is None:
        return "info"
    if value is None:
        return "no data"
    return "pass" if crossed(target.op, value, target.goal) else "fail"


# Guide 003: average LLM latency under 800 ms for 8B models, under 1500 ms for 70B ones.
_MODEL_TARGETS = (("70b", 1500.0), ("8b", 800.0))


def model_target(model: str) -> float | None:
    name = model.lower()
    return next((goal for key, goal in _MODEL_TARGETS if key in name), None)


@dataclass(frozen=True)
class Kpi:
    target: Target
    unit: str
    value: float | None
    previous: float | None

    @property
    def mark(self) -> Mark:
        return target_mark(self.target, self.value)

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def better(self) -> bool | None:
        """Whether the change moved toward the target (None: no target or no change)."""
        change = self.change
        if change is None or change == 0 or self.target.op is None:
            return None
        return (change < 0) == self.target.op.startswith("<")


@dataclass(frozen=True)
class ModelRow:
    model: str
    calls: float
    share: float | None
    avg_latency_ms: float | None
    p95_latency_ms: float | None
    tokens: float
    cost_usd: float
    target_ms: float | None

    @property
    def mark(self) -> Mark:
        if self.target_ms is None:
            return "info"
        if self.avg_latency_ms is None:
            return "no data"
        return "pass" if self.avg_latency_ms < self.target_ms else "fail"


@dataclass
class Report:
    day: date
    service: str | None
    kpis: list[Kpi]
    models: list[ModelRow]
    topics: dict[str, float]
    alerts: list[Transition]
    hours: list[str]
    requests_per_hour: list[float]
    errors_per_hour: list[float]
    units: dict[str, str] = field(default_factory=dict)  # rule -> unit of its alerts
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def passed(self) -> int:
        return sum(k.mark == "pass" for k in self.kpis) + sum(m.mark == "pass" for m in self.models)

    @property
    def failed(self) -> int:
        return sum(k.mark == "fail" for k in self.kpis) + sum(m.mark == "fail" for m in self.models)


def _rank(level: str | None) -> int:
    return {"warning": 1, "critical": 2}.get(level or "", 0)


def build_report(
    cat: Catalogue, day: date, service: str | None = None, rules: Sequence[Rule] = ()
) -> Report:
    """The report of one UTC day (and the day before, for the changes); ``rules`` give the
    units of the alerts' values."""
    filters = Filters(service=service)
    window = explicit_window(day, day)
    today = cat.reading(window, filters)
    before = cat.reading(explicit_window(day - timedelta(days=1), day - timedelta(days=1)), filters)
    kpis = [
        Kpi(t, cat.metric(t.metric).unit, cat.value(t.metric, today), cat.value(t.metric, before))
        for t in TARGETS
    ]
    models = [
        ModelRow(
            model=model,
            calls=calls or 0.0,
            share=cat.value("llm_call_share", today.for_model(model)),
            avg_latency_ms=cat.value("llm_avg_latency_ms", today.for_model(model)),
            p95_latency_ms=cat.value("llm_p95_latency_ms", today.for_model(model)),
            tokens=cat.value("llm_tokens", today.for_model(model)) or 0.0,
            cost_usd=cat.value("llm_cost_usd", today.for_model(model)) or 0.0,
            target_ms=model_target(model),
        )
        for model, calls in sorted(
            cat.by_model("llm_calls", today).items(), key=lambda kv: -(kv[1] or 0)
        )
    ]
    rows = cat.table(["total_requests", "failed_requests"], window, 3600, filters)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    fired = [
        t
        for t in recent_transitions(
            cat.store, limit=1000, service=service, since=start, until=start + timedelta(days=1)
        )
        if t.to_state == "firing"
        and (t.from_state != "firing" or _rank(t.level) > _rank(t.from_level))
    ]
    return Report(
        day=day,
        service=service,
        kpis=kpis,
        models=models,
        topics=cat.breakdown("top_topics", today),
        alerts=list(reversed(fired)),
        hours=[datetime.fromtimestamp(ts, UTC).strftime("%H") for ts, _ in rows],
        requests_per_hour=[(r["total_requests"] or 0.0) for _, r in rows],
        errors_per_hour=[(r["failed_requests"] or 0.0) for _, r in rows],
        units={r.name: r.unit for r in rules},
    )
