"""Percentiles from the rollups' log-scale histograms stay within the stated relative
error of the exact percentiles, however the values are spread and however merged."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest
from workload import exact_quantile

from chatwatch.sketch import RELATIVE_ERROR, bin_of, merge, quantile

QS = (0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0)
Draw = Callable[[random.Random], float]
SPREADS: dict[str, Draw] = {
    "lognormal response times": lambda r: r.lognormvariate(math.log(900), 1.1),
    "uniform 1 ms to 10 s": lambda r: r.uniform(1, 10_000),
    "bimodal cache hit or miss": lambda r: (
        r.gauss(15, 3) if r.random() < 0.3 else r.gauss(2500, 400)
    ),
    "heavy tail": lambda r: r.paretovariate(1.2) * 50,
    "sub-millisecond": lambda r: r.uniform(0.001, 0.9),
    "integers with ties": lambda r: float(r.randint(1, 20) * 100),
}


def _bins(values: list[float]) -> dict[int, int]:
    bins: dict[int, int] = {}
    for v in values:
        bins[bin_of(v)] = bins.get(bin_of(v), 0) + 1
    return bins


def test_the_stated_error_is_under_one_percent() -> None:
    """docs/metrics.md promises at most 1 % relative error."""
    assert RELATIVE_ERROR < 0.01


@pytest.mark.parametrize("spread", SPREADS)
def test_percentiles_are_within_the_stated_error(spread: str) -> None:
    """Every quantile of 20 000 values is within RELATIVE_ERROR of the exact one."""
    rng = random.Random(spread)
    values = [max(SPREADS[spread](rng), 0.0005) for _ in range(20_000)]
    bins = _bins(values)
    for q in QS:
        exact = exact_quantile(values, q)
        assert exact is not None
        got = quantile(bins, q)
        assert got is not None
        assert abs(got - exact) <= RELATIVE_ERROR * exact * 1.0001, (q, got, exact)


def test_merged_parts_answer_like_the_whole() -> None:
    """Per-minute histograms summed (any window) give the whole window's percentiles."""
    rng = random.Random(3)
    minutes = [
        [rng.lognormvariate(6.5, 0.8) for _ in range(rng.randint(0, 60))] for _ in range(500)
    ]
    everything = [v for part in minutes for v in part]
    merged = merge(_bins(part) for part in minutes)
    assert merged == _bins(everything)
    for q in QS:
        exact = exact_quantile(everything, q)
        got = quantile(merged, q)
        assert exact is not None and got is not None
        assert abs(got - exact) <= RELATIVE_ERROR * exact * 1.0001


def test_zero_and_empty() -> None:
    """Zero latencies are answered as 0; no values give no percentile."""
    assert quantile({}, 0.95) is None
    assert quantile(_bins([0.0, 0.0, 0.0]), 0.5) == 0.0
    assert quantile(_bins([0.0, 5.0]), 1.0) == pytest.approx(5.0, rel=RELATIVE_ERROR)
