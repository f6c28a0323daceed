"""Alerting: rules over catalogue metrics, alert states kept in the database, silences,
and notifications by log, e-mail and webhook (docs/alerts.md)."""

from __future__ import annotations

from chatwatch.alerts.engine import Round, alert_task, evaluate, evaluation_lock
from chatwatch.alerts.model import Alert, Level, Matcher, Silence, State, Transition
from chatwatch.alerts.rules import Rule, RulesError, load_rules, parse_rules
from chatwatch.alerts.silences import (
    create_silence,
    expire_silence,
    list_silences,
    parse_matcher,
)
from chatwatch.alerts.state import current_alerts, recent_transitions

__all__ = [
    "Alert",
    "Level",
    "Matcher",
    "Round",
    "Rule",
    "RulesError",
    "Silence",
    "State",
    "Transition",
    "alert_task",
    "create_silence",
    "current_alerts",
    "evaluate",
    "evaluation_lock",
    "expire_silence",
    "list_silences",
    "load_rules",
    "parse_matcher",
    "parse_rules",
    "recent_transitions",
]
