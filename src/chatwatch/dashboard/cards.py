"""The overview cards: catalogue values, each coloured by its metric's alert threshold.

A card shows one main number and a few related ones. Its colour is the level
(``Threshold.level``) of the metric that carries the alert for what the card shows:
the success-rate card takes error_rate's, the active-sessions card the capacity usage's.

A figure whose metric has a KPI target (guide 003's, and guide 000's, as the daily report
judges them: ``report.data.TARGETS``, the one definition) also carries its mark: ``met``
(green), ``miss`` (amber) or ``nodata`` (grey); figures without a target carry none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chatwatch.dashboard.format import format_value
from chatwatch.metrics import Catalogue, Reading, Window
from chatwatch.metrics.window import explicit_window, month_window
from chatwatch.report.data import TARGET_OF, target_mark

__all__ = ["build_cards", "calendar_readings", "calendar_windows"]


@dataclass(frozen=True)
class _Stat:
    metric: str
    label: str = ""
    level_metric: str | None = None  # whose threshold colours it (default: itself)
    window: str = "window"  # or today / week / month


@dataclass(frozen=True)
class _Card:
    key: str
    title: str
    main: _Stat
    subs: tuple[_Stat, ...] = ()


CARDS: tuple[_Card, ...] = (
    _Card(
        "sessions",
        "Sessions today",
        _Stat("sessions", window="today"),
        (
            _Stat("sessions", "this week", window="week"),
            _Stat("sessions", "this month", window="month"),
        ),
    ),
    _Card(
        "active",
        "Active sessions now",
        _Stat("active_sessions", level_metric="active_sessions_usage"),
        (
            _Stat("active_sessions_usage", "of capacity"),
            _Stat("websocket_connections", "WebSockets open", level_metric="websocket_usage"),
        ),
    ),
    _Card(
        "response",
        "Avg response time",
        _Stat("avg_response_time_ms"),
        (_Stat("p95_response_time_ms", "p95"), _Stat("p50_response_time_ms", "median")),
    ),
    _Card(
        "success",
        "Success rate",
        _Stat("success_rate", level_metric="error_rate"),
        (_Stat("error_rate", "error rate"), _Stat("total_requests", "turns")),
    ),
    _Card(
        "satisfaction",
        "Satisfaction",
        _Stat("satisfaction"),
        (_Stat("ratings", "ratings"), _Stat("thumbs_up_share", "thumbs up")),
    ),
    _Card(
        "escalation",
        "Escalation rate",
        _Stat("escalation_rate"),
        (_Stat("escalations", "escalations"), _Stat("sessions", "sessions")),
    ),
    _Card(
        "cache",
        "Cache hit rate",
        _Stat("cache_hit_rate"),
        (_Stat("rag_cache_hit_rate", "RAG cache"),),
    ),
    _Card(
        "rag",
        "RAG avg similarity",
        _Stat("rag_avg_similarity"),
        (_Stat("rag_searches", "searches"),),
    ),
    _Card(
        "rag_success",
        "RAG success rate",
        _Stat("rag_success_rate"),
        (_Stat("rag_queries", "retrieving turns"), _Stat("rag_no_results", "found nothing")),
    ),
    _Card(
        "tokens",
        "Tokens this month",
        _Stat("month_tokens", level_metric="token_budget_usage"),
        (_Stat("token_budget_usage", "of token budget"), _Stat("llm_tokens", "in window")),
    ),
    _Card(
        "cost",
        "LLM cost this month",
        _Stat("month_cost_usd", level_metric="budget_usage"),
        (_Stat("budget_usage", "of budget"), _Stat("llm_cost_usd", "in window")),
    ),
)


def calendar_windows(now: float) -> dict[str, Window]:
    """Today, this week (from Monday) and this month, in UTC, up to now."""
    today = datetime.fromtimestamp(now, UTC).date()
    end = datetime.fromtimestamp(now, UTC)
    monday = today - timedelta(days=today.weekday())
    return {
        "today": explicit_window(today, end),
        "week": explicit_window(monday, end),
        "month": month_window(now),
    }


def _stat(cat: Catalogue, stat: _Stat, reading: Reading) -> dict[str, Any]:
    metric = cat.metric(stat.metric)
    value = cat.value(stat.metric, reading)
    judge = cat.metric(stat.level_metric) if stat.level_metric else metric
    judged = value if judge is metric else cat.value(judge.name, reading)
    # nothing to judge (no budget set, no samples) is neutral, not a reassuring green
    level = judge.threshold.level(judged) if judge.threshold and judged is not None else "none"
    return {
        "metric": stat.metric,
        "label": stat.label,
        "window": stat.window,
        "unit": metric.unit,
        "value": value,
        "display": format_value(value, metric.unit),
        "level": level,
        **_kpi(stat.metric, value, metric.unit),
    }


_KPI_CLASS = {"pass": "met", "fail": "miss", "no data": "nodata"}


def _kpi(name: str, value: float | None, unit: str) -> dict[str, Any]:
    """The figure's mark against its KPI target (none when the metric has no target)."""
    target = TARGET_OF.get(name)
    if target is None or target.goal is None:
        return {"kpi": None, "target": None}
    goal = f"{target.op} {format_value(target.goal, unit)} ({target.source})"
    return {"kpi": _KPI_CLASS[target_mark(target, value)], "target": goal}


def calendar_readings(cat: Catalogue, reading: Reading) -> dict[str, Reading]:
    """Today, this week and this month, with what their cards show already read."""
    out = {}
    for name, window in calendar_windows(reading.now).items():
        out[name] = cat.reading(window, reading.filters)
        for card in CARDS:
            for stat in (card.main, *card.subs):
                if stat.window == name:
                    cat.value(stat.metric, out[name])
    return out


def build_cards(
    cat: Catalogue, reading: Reading, calendar: dict[str, Reading] | None = None
) -> list[dict[str, Any]]:
    readings = {"window": reading, **(calendar or calendar_readings(cat, reading))}
    cards = []
    for card in CARDS:
        main = _stat(cat, card.main, readings[card.main.window])
        subs = [_stat(cat, s, readings[s.window]) for s in card.subs]
        cards.append({"key": card.key, "title": card.title, **main, "subs": subs})
    return cards
