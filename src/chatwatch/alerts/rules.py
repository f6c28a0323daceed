"""Alert rules: a YAML file of rules over catalogue metrics, validated with pydantic.

A rule names a catalogue metric, a comparison, warning and/or critical thresholds, the
window the metric is read over, ``for`` (how long the condition must hold before the
alert fires), ``keep_firing_for`` (how long it keeps firing after the condition clears,
so a flapping metric does not send a resolve and a new alert every minute), the minimum
number of samples behind a rate (two requests do not make a 50 % error rate), the labels
alerts are split by (``service``, ``model``), extra labels, a summary and a runbook link.
Invalid rules are refused with a message naming the rule and the field.
"""

from __future__ import annotations

import re
import string
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from chatwatch.metrics import METRICS, parse_window
from chatwatch.store.maintenance import USER_WINDOW_MAX_S  # what maintenance keeps for them

__all__ = [
    "DEFAULT_RULES",
    "USER_WINDOW_MAX_S",
    "Op",
    "Rule",
    "RulesError",
    "crossed",
    "load_rules",
    "parse_duration",
    "parse_rules",
]

Op = Literal[">", ">=", "<", "<="]
_METRICS = {m.name: m for m in METRICS}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_FIELDS = {
    "value",
    "threshold",
    "window",
    "level",
    "unit",
    "service",
    "model",
    "provider",
    "user_id",
    "metric",
    "rule",
}
DEFAULT_RULES = "default_rules.yaml"
SILENCE_METRIC = "seconds_since_last_event"
DEFAULT_SILENT_FOR = 600.0
DEFAULT_MIN_SAMPLES = 10


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the rule and field."""


def parse_duration(value: object) -> float:
    """``90``, ``"30s"``, ``"5m"``, ``"1h"``, ``"1d"`` → seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration like 30s, 5m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value).strip())
        if not match:
            raise ValueError(f"a duration like 30s, 5m or 1h, not {value!r}")
        seconds = float(match.group(1)) * _UNIT[match.group(2)]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def crossed(op: str, value: float, threshold: float) -> bool:
    return {
        ">": value > threshold,
        ">=": value >= threshold,
        "<": value < threshold,
        "<=": value <= threshold,
    }[op]


class Rule(BaseModel):
    """One rule; durations are stored in seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(pattern=_NAME, max_length=128)
    metric: str
    op: Op | None = None  # None: the catalogue metric's own comparison
    warning: float | None = None
    critical: float | None = None
    window: str = "15m"
    for_s: float = Field(0.0, alias="for")
    keep_firing_for_s: float = Field(0.0, alias="keep_firing_for")
    repeat_interval_s: float | None = Field(None, alias="repeat_interval")
    # a silent-service rule: critical once the service has sent nothing this long
    silent_for_s: float | None = Field(None, alias="silent_for")
    min_samples: int = Field(0, ge=0)
    # what a window with no samples (or fewer than min_samples) does: ``ok`` shows
    # "no data" and never pages, ``keep`` holds the alert's state, ``alerting`` fires
    no_data: Literal["ok", "keep", "alerting"] = "ok"
    by: tuple[Literal["service", "model", "provider", "user_id"], ...] = ("service",)
    # with by model or user_id: the label sets tracked, worst first (the rest summarised)
    max_series: int = Field(20, ge=1, le=1000)
    labels: dict[str, str] = Field(default_factory=dict)
    title: str = ""
    summary: str = ""
    runbook_url: str = ""
    enabled: bool = True

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in _METRICS:
            raise ValueError(f"{value!r} is not a catalogue metric (see docs/metrics.md)")
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        if value.strip().lower() == "all":
            raise ValueError("a rule needs a bounded window like 5m, 1h or 24h")
        parse_window(value, 0.0)
        return value.strip().lower()

    @field_validator(
        "for_s", "keep_firing_for_s", "repeat_interval_s", "silent_for_s", mode="before"
    )
    @classmethod
    def _duration(cls, value: object) -> float | None:
        return None if value is None else parse_duration(value)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not re.match(_NAME, key):
                raise ValueError(f"label name {key!r} must match {_NAME}")
            if key in ("alertname", "severity", "service", "model", "provider"):
                raise ValueError(f"label {key!r} is set by chatwatch")
        return value

    @field_validator("summary", "title")
    @classmethod
    def _template(cls, value: str) -> str:
        for _, field, _, _ in string.Formatter().parse(value):
            if field is not None and field not in _FIELDS:
                raise ValueError(f"unknown placeholder {{{field}}}; use {sorted(_FIELDS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        metric = _METRICS[self.metric]
        if self.metric == SILENCE_METRIC and self.warning is None and self.critical is None:
            silent = self.silent_for_s if self.silent_for_s is not None else DEFAULT_SILENT_FOR
            object.__setattr__(self, "critical", silent)
            object.__setattr__(self, "op", ">=")
        elif self.silent_for_s is not None:
            raise ValueError(f"silent_for: only for metric {SILENCE_METRIC}, without thresholds")
        if self.warning is None and self.critical is None:
            if metric.threshold is None:
                raise ValueError("give warning and/or critical (the metric has no default)")
            object.__setattr__(self, "warning", metric.threshold.warning)
            object.__setattr__(self, "critical", metric.threshold.critical)
        if self.op is None:
            object.__setattr__(self, "op", metric.threshold.op if metric.threshold else ">")
        both = self.warning is not None and self.critical is not None
        if both and crossed(self.comparison, self.warning or 0.0, self.critical or 0.0):
            raise ValueError(
                f"warning {self.warning} is already past critical {self.critical} "
                f"for op {self.comparison!r}"
            )
        if self.min_samples and metric.samples is None:
            raise ValueError(f"min_samples: {self.metric} is not a rate over samples")
        if metric.samples is not None and "min_samples" not in self.model_fields_set:
            # every ratio needs a floor: two requests do not make a 50 % error rate
            object.__setattr__(self, "min_samples", DEFAULT_MIN_SAMPLES)
        if "model" in self.by and "model" not in metric.labels:
            raise ValueError(f"by: {self.metric} has no model label")
        if "user_id" in self.by and "user_id" not in metric.labels:
            raise ValueError(f"by: {self.metric} has no user_id label (see user_llm_*)")
        if "provider" in self.by and "model" not in metric.labels:
            raise ValueError(f"by: {self.metric} has no model label to sum into providers")
        if len({"user_id", "model", "provider"} & set(self.by)) > 1:
            raise ValueError("by: one of model, provider and user_id")
        user_window = parse_window(self.window, 0.0).seconds
        if "user_id" in metric.labels and user_window > USER_WINDOW_MAX_S:
            # maintenance keeps user_usage this long (plus an hour), so the limit stays exact
            raise ValueError("window: a per-user limit reads at most 30d")
        if "service" not in metric.filters and "service" in self.by:
            object.__setattr__(self, "by", tuple(b for b in self.by if b != "service"))
        return self

    @property
    def comparison(self) -> str:
        return self.op or ">"

    @property
    def unit(self) -> str:
        return _METRICS[self.metric].unit

    @property
    def process(self) -> bool:
        """A rule on the evaluating process itself (CPU, memory, threads, uptime): only
        the server evaluates it, never a `chatwatch check` run from cron."""
        return not _METRICS[self.metric].filters

    @property
    def samples_metric(self) -> str | None:
        return _METRICS[self.metric].samples

    def level(self, value: float | None) -> Literal["warning", "critical"] | None:
        """The level ``value`` crosses, or None."""
        if value is None:
            return None
        if self.critical is not None and crossed(self.comparison, value, self.critical):
            return "critical"
        if self.warning is not None and crossed(self.comparison, value, self.warning):
            return "warning"
        return None

    @property
    def top_level(self) -> Literal["warning", "critical"]:
        """The level a rule with ``no_data: alerting`` fires at when its data stops."""
        return "critical" if self.critical is not None else "warning"

    def threshold(self, level: str | None) -> float | None:
        if level == "critical":
            return self.critical
        return self.warning if self.warning is not None else self.critical


class _Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window: str | None = None
    for_: Any = Field(None, alias="for")
    keep_firing_for: Any = None
    min_samples: int | None = None
    no_data: Literal["ok", "keep", "alerting"] | None = None
    labels: dict[str, str] | None = None


def _describe(error: ErrorDetails) -> str:
    loc = [str(p) for p in error["loc"]]
    field = ".".join(loc) or "(rule)"
    message = error["msg"].removeprefix("Value error, ")
    return f"field {field!r}: {message}"


def parse_rules(data: object, source: str = "rules") -> list[Rule]:
    """Rules from parsed YAML: ``{"defaults": {...}, "rules": [...]}`` or a bare list."""
    if isinstance(data, list):
        data = {"rules": data}
    if not isinstance(data, dict):
        raise RulesError(f"{source}: expected a mapping with a 'rules' list")
    unknown = set(data) - {"defaults", "rules"}
    if unknown:
        raise RulesError(f"{source}: unknown top-level key(s) {sorted(unknown)}")
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RulesError(f"{source}: 'rules' must be a non-empty list")
    try:
        defaults = _Defaults.model_validate(data.get("defaults") or {})
    except ValidationError as exc:
        raise RulesError(f"{source}: defaults: {_describe(exc.errors()[0])}") from None
    base = {k: v for k, v in defaults.model_dump(by_alias=True).items() if v is not None}
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_rules, 1):
        name = raw.get("name", f"#{index}") if isinstance(raw, dict) else f"#{index}"
        if not isinstance(raw, dict):
            raise RulesError(f"{source}: rule {name}: expected a mapping")
        merged = {**base, **raw}
        if "labels" in base and "labels" in raw:
            merged["labels"] = {**base["labels"], **raw["labels"]}
        try:
            rule = Rule.model_validate(merged)
        except ValidationError as exc:
            problems = "; ".join(_describe(e) for e in exc.errors())
            raise RulesError(f"{source}: rule {name!r}: {problems}") from None
        if rule.name in seen:
            raise RulesError(f"{source}: rule {rule.name!r}: field 'name': used twice")
        seen.add(rule.name)
        rules.append(rule)
    return rules


def load_rules(path: Path | str | None = None) -> list[Rule]:
    """The rules in ``path``, or the shipped defaults (every threshold of both guides)."""
    if path is None:
        text = files("chatwatch.alerts").joinpath(DEFAULT_RULES).read_text(encoding="utf-8")
        source = DEFAULT_RULES
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise RulesError(f"{source}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(f"{source}: not valid YAML: {exc}") from None
    return parse_rules(data, source)
