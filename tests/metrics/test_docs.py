"""docs/metrics.md names every catalogue metric, breakdown and Prometheus family."""

from __future__ import annotations

from pathlib import Path

from chatwatch.metrics import BREAKDOWNS, METRICS
from chatwatch.metrics.prometheus import family_names
from chatwatch.sketch import RELATIVE_ERROR

DOC = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text()


def test_every_metric_and_breakdown_is_documented() -> None:
    """A metric added to definitions.py needs its row in docs/metrics.md."""
    missing = [m.name for m in (*METRICS, *BREAKDOWNS) if f"`{m.name}`" not in DOC]
    assert not missing


def test_every_prometheus_family_is_documented() -> None:
    """Alert rules are written against these names, so each one is listed."""
    assert not [name for name in family_names() if f"`{name}`" not in DOC]


def test_the_stated_relative_error_is_the_sketch_s() -> None:
    """The docs state the error the sketch actually has."""
    assert f"{RELATIVE_ERROR * 100:.2f} % relative error" in DOC
