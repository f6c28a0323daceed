"""The metric catalogue (see ``definitions`` for every metric and its thresholds)."""

from __future__ import annotations

from chatwatch.metrics.catalogue import Catalogue, Point, UnknownMetric
from chatwatch.metrics.definitions import BREAKDOWNS, METRICS, Breakdown, Metric, Threshold
from chatwatch.metrics.reading import Reading
from chatwatch.metrics.window import DEFAULT_WINDOW, Window, explicit_window, parse_window

__all__ = [
    "BREAKDOWNS",
    "DEFAULT_WINDOW",
    "METRICS",
    "Breakdown",
    "Catalogue",
    "Metric",
    "Point",
    "Reading",
    "Threshold",
    "UnknownMetric",
    "Window",
    "explicit_window",
    "parse_window",
]
