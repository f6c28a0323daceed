"""The metric catalogue: the one door through which every output reads a number."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from chatwatch.cancel import check as check_cancelled
from chatwatch.config import Settings
from chatwatch.metrics.bulk import bulk_readings
from chatwatch.metrics.definitions import BREAKDOWNS, LLM, METRICS, Breakdown, Metric, unhonoured
from chatwatch.metrics.reading import Reading
from chatwatch.metrics.window import (
    MAX_BUCKETS,
    Window,
    capped_step,
    month_window,
    parse_window,
)
from chatwatch.store import Aggregate, Bins, Filters, Instance, Store
from chatwatch.store.rollup import DAY, HOUR, MINUTE

__all__ = ["Catalogue", "Point", "UnknownMetric"]


class UnknownMetric(KeyError):
    pass


@dataclass(frozen=True)
class Point:
    ts: int
    value: float | None


class Catalogue:
    def __init__(
        self, store: Store, settings: Settings, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.metrics: dict[str, Metric] = {m.name: m for m in METRICS}
        self.breakdowns: dict[str, Breakdown] = {b.name: b for b in BREAKDOWNS}
        self._bulk_memo: tuple[float, dict[str, Any]] = (float("nan"), {})

    def metric(self, name: str) -> Metric:
        try:
            return self.metrics[name]
        except KeyError:
            raise UnknownMetric(name) from None

    def ignored_filters(self, names: Iterable[str], filters: Filters) -> dict[str, list[str]]:
        """Per filter given, the metrics among ``names`` that cannot narrow by it (in order):
        an answer says so, or leaves them out, instead of silently ignoring it. Metrics no
        filter narrows (the process's own figures) are never listed."""
        given = dataclasses.asdict(filters)
        ignored: dict[str, list[str]] = {}
        for name in names:
            scope = self.metric(name).filters
            for f in unhonoured(scope, given) if scope else ():
                ignored.setdefault(f, []).append(name)
        return ignored

    def window(self, spec: str | None) -> Window:
        """A named window; ``all`` starts at the first stored event (not 1970)."""
        is_all = (spec or "").strip().lower() == "all"
        first = self.store.first_bucket() if is_all else None
        return parse_window(spec, self.clock(), first)

    def reading(self, window: Window | str | None = None, filters: Filters = Filters()) -> Reading:
        if not isinstance(window, Window):
            window = self.window(window)
        return Reading(self.store, self.settings, window, filters, self.clock())

    def value(self, name: str, reading: Reading) -> float | None:
        """The metric over the reading, narrowed by the filters that apply to it."""
        metric = self.metric(name)
        scoped = reading.scoped(metric.filters)
        model = reading.filters.model
        if model is not None and scoped.model is None and "model" in metric.labels:
            # a model filter outside the metric's scope picks its model label instead
            scoped = scoped.for_model(model)
        value = metric.compute(scoped)
        return None if value is None else float(value)

    def values(
        self, reading: Reading, names: Iterable[str] | None = None
    ) -> dict[str, float | None]:
        return {n: self.value(n, reading) for n in (names or self.metrics)}

    def by_model(self, name: str, reading: Reading) -> dict[str, float | None]:
        """A labelled metric for each model seen in the window (this month for month totals)."""
        metric = self.metric(name)
        if "model" not in metric.labels:
            raise ValueError(f"{name} has no model label")
        scoped = reading.scoped(metric.filters)
        seen = scoped.month.models("llm_input_tokens") if metric.instant else scoped.agg.models()
        return {m: self.value(name, reading.for_model(m)) for m in seen}

    def provider_reading(self, name: str, reading: Reading) -> Reading:
        """The reading with its models summed into providers, through the model -> provider
        map of the LLM calls stored over the metric's span (``store.providers``): rates and
        percentiles stay exact per provider, computed from summed counts and bins."""
        metric = self.metric(name)
        if "model" not in metric.labels:
            raise ValueError(f"{name} has no model label")
        service = reading.scoped(metric.filters).filters.service
        span = month_window(reading.now) if metric.instant else reading.window
        return reading.for_providers(self.store.model_providers(span.start, span.end, service))

    def by_provider(self, name: str, reading: Reading) -> dict[str, float | None]:
        """A labelled metric for each provider seen in the window (``by_model`` over the
        provider reading)."""
        return self.by_model(name, self.provider_reading(name, reading))

    def by_user(self, name: str, reading: Reading) -> dict[str, float | None]:
        """A per-user metric for each user with usage in the window."""
        metric = self.metric(name)
        if "user_id" not in metric.labels:
            raise ValueError(f"{name} has no user_id label")
        scoped = reading.scoped(metric.filters)
        return {u: self.value(name, scoped.for_user(u)) for u in sorted(scoped.user_usage)}

    def breakdown(self, name: str, reading: Reading) -> dict[str, float]:
        breakdown = self.breakdowns[name]
        return breakdown.compute(reading.scoped(breakdown.filters))

    def instances(self, reading: Reading) -> list[Instance]:
        """The app's live processes behind the summed process metrics, one per host and
        pid (their latest heartbeats)."""
        return reading.scoped(frozenset({"service"})).instances

    def models(self, reading: Reading) -> list[str]:
        return reading.scoped(LLM).agg.models()

    def per_service(
        self, window: Window | str | None = None, services: Iterable[str] = ()
    ) -> dict[str, Reading]:
        """A reading per service (those with data, plus ``services``), from one grouped
        query per kind of read: what ``/metrics`` needs to label samples by service."""
        if not isinstance(window, Window):
            window = self.window(window)
        now = self.clock()
        stamp, memo = self._bulk_memo
        if stamp != now:  # window-independent reads shared at one instant (an alert round)
            memo = {}
            self._bulk_memo = (now, memo)
        return bulk_readings(self.store, self.settings, window, now, services, memo)

    def totals(
        self, series: Sequence[str]
    ) -> list[tuple[str, str, str, str, str, str, int, float]]:
        """All-time sums of rollup series by every label column (daily rollups):
        ``(service, series, model, dim, user_type, channel, n, total)``."""
        return self.store.totals(series)

    def timeseries(
        self, name: str, window: Window, step: int, filters: Filters = Filters()
    ) -> list[Point]:
        """The metric per ``step`` (60, 3600 or 86400 s) bucket of the window, for charts."""
        return [Point(ts, row[name]) for ts, row in self.table([name], window, step, filters)]

    def table(
        self,
        names: list[str],
        window: Window,
        step: int,
        filters: Filters = Filters(),
        max_buckets: int = MAX_BUCKETS,
    ) -> list[tuple[int, dict[str, float | None]]]:
        """Several metrics per ``step`` bucket, from one read of the bucketed rollups per
        filter scope. At most ``max_buckets`` rows: a longer window gets a coarser step (whole
        days, read from the daily rollups and summed)."""
        metrics = [self.metric(n) for n in names]
        instant = [m.name for m in metrics if m.instant]
        if instant:
            raise ValueError(f"{', '.join(instant)}: a value now, not a series")
        step = capped_step(window, step, max_buckets)
        res = step if step in (MINUTE, HOUR, DAY) else DAY
        start = window.start // step * step
        now = self.clock()
        base = Reading(self.store, self.settings, window, filters, now)
        scopes = {base.scoped(m.filters).filters for m in metrics}
        # only the histograms these metrics read: per-bucket bins are the bulk of the rows
        hist_series = sorted({m.histogram for m in metrics if m.histogram})
        need_hist = bool(hist_series)
        aggs = {
            f: _by_step(self.store.bucketed(res, start, window.end, f), start, step, _add_agg)
            for f in scopes
        }
        hists = {
            f: _by_step(
                self.store.hist_groups_bucketed(res, start, window.end, hist_series, f),
                start,
                step,
                _add_hists,
            )
            for f in (scopes if need_hist else ())
        }
        rows = []
        for ts in range(start, window.end, step):
            check_cancelled()
            sub = Reading(self.store, self.settings, Window(ts, ts + step, "bucket"), filters, now)
            for f in scopes:
                sub.preload("agg", aggs[f].get(ts) or Aggregate(), f)
                if need_hist:
                    sub.preload("hist", hists[f].get(ts, {}), f)
            rows.append((ts, {n: self.value(n, sub) for n in names}))
        return rows


_V = TypeVar("_V")


def _by_step(
    buckets: dict[int, _V], start: int, step: int, add: Callable[[_V, _V], _V]
) -> dict[int, _V]:
    """Buckets of the rollup resolution summed into buckets of ``step`` (the same dict
    when they are one)."""
    out: dict[int, _V] = {}
    for bucket, value in sorted(buckets.items()):
        key = start + (bucket - start) // step * step
        found = out.get(key)
        out[key] = value if found is None else add(found, value)
    return out


def _add_agg(into: Aggregate, more: Aggregate) -> Aggregate:
    merged = Aggregate()
    merged.merge(into)
    merged.merge(more)
    return merged


def _add_hists(
    into: dict[tuple[str, str], Bins], more: dict[tuple[str, str], Bins]
) -> dict[tuple[str, str], Bins]:
    merged = {key: dict(bins) for key, bins in into.items()}
    for key, bins in more.items():
        target = merged.setdefault(key, {})
        for index, n in bins.items():
            target[index] = target.get(index, 0) + n
    return merged
