"""Log-scale histogram bins: mergeable by addition, so percentiles of any window come
from summed bucket counts instead of raw events.

A value ``v > 0`` falls in bin ``i = ceil(log(v) / log(GAMMA))``, i.e. ``(GAMMA**(i-1),
GAMMA**i]``. The bin is answered by ``2 * GAMMA**i / (GAMMA + 1)``, which is within
``(GAMMA - 1) / (GAMMA + 1)`` (0.99 %) of every value in the bin: that is the stated
relative error of every percentile chatwatch reports.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

__all__ = [
    "GAMMA",
    "RELATIVE_ERROR",
    "ZERO_BIN",
    "bin_of",
    "merge",
    "quantile",
    "value_of",
]

GAMMA = 1.02
RELATIVE_ERROR = (GAMMA - 1) / (GAMMA + 1)
ZERO_BIN = -100_000
_LOG_GAMMA = math.log(GAMMA)
_MIN_VALUE = 1e-6


def bin_of(value: float) -> int:
    if value <= _MIN_VALUE:
        return ZERO_BIN
    return math.ceil(math.log(value) / _LOG_GAMMA)


def value_of(index: int) -> float:
    if index == ZERO_BIN:
        return 0.0
    return 2.0 * GAMMA**index / (GAMMA + 1.0)


def quantile(bins: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (0..1) as ``sorted(values)[floor(q * (n - 1))]`` would give it."""
    total = sum(bins.values())
    if total <= 0:
        return None
    rank = math.floor(min(max(q, 0.0), 1.0) * (total - 1))
    seen = 0
    for index in sorted(bins):
        seen += bins[index]
        if seen > rank:
            return value_of(index)
    return value_of(max(bins))


def merge(parts: Iterable[Mapping[int, int]]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for part in parts:
        for index, count in part.items():
            merged[index] = merged.get(index, 0) + count
    return merged
