"""One window's rollups, read once and shared by every metric computed from them.

Reads are cached per kind and per effective filters: a metric sees the reading through
:meth:`Reading.scoped`, which drops the filters that do not apply to it (a ``channel``
filter does not narrow LLM calls), so metrics with the same scope share one query.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TypeVar, cast

from chatwatch.config import Settings
from chatwatch.metrics.system import LIVE_LOOKBACK_S, SystemStats, live, read_system
from chatwatch.metrics.window import Window, month_window
from chatwatch.sketch import quantile
from chatwatch.store import Aggregate, Bins, Filters, Instance, Store
from chatwatch.store.providers import UNKNOWN_PROVIDER
from chatwatch.store.rollup import add_counts

__all__ = ["HIST_SERIES", "MONTH_SERIES", "FilterScope", "HistGroups", "Reading"]

FilterScope = frozenset[str]
HistGroups = dict[tuple[str, str], Bins]  # (series, model) -> bins
HIST_SERIES = ("turn_rt", "llm_latency", "rag_search_time")
MONTH_SERIES = ("llm_cost", "llm_input_tokens", "llm_output_tokens", "turn_llm_own", "emb_cost")
_FILTER_NAMES = tuple(f.name for f in fields(Filters))
_T = TypeVar("_T")


@dataclass
class Reading:
    store: Store
    settings: Settings
    window: Window
    filters: Filters
    now: float
    model: str | None = None
    user: str | None = None  # per-user metrics: one user's value (None: every user's)
    # model -> provider: the model label of every read relabelled to its provider
    providers: tuple[tuple[str, str], ...] | None = None
    _shared: dict[Hashable, object] = field(default_factory=dict, repr=False)

    def for_model(self, model: str) -> Reading:
        """The same reading (and the same cached reads) narrowed to one model."""
        return replace(self, model=model, _shared=self._shared)

    def for_providers(self, providers: Mapping[str, str]) -> Reading:
        """The same reading with models summed into providers: ``model`` then names a
        provider, and every metric (rates, percentiles too) is exact per provider, since
        it is computed from the relabelled counts and bins, not from per-model results."""
        return replace(self, providers=tuple(sorted(providers.items())), _shared=self._shared)

    def _provider_of(self) -> Callable[[str], str]:
        found = dict(self.providers or ())
        return lambda model: found.get(model, UNKNOWN_PROVIDER) if model else model

    def _relabelled(self, kind: str, raw: Aggregate) -> Aggregate:
        if self.providers is None:
            return raw

        def make() -> Aggregate:
            of = self._provider_of()
            out = Aggregate()
            for (series, model, dim), (n, total) in raw.cells.items():
                out.add(series, of(model), dim, n, total)
            return out

        return self._cached((kind, self.providers), make)

    def for_user(self, user: str) -> Reading:
        """The same reading narrowed to one user (per-user metrics)."""
        return replace(self, user=user, _shared=self._shared)

    @property
    def user_usage(self) -> dict[str, tuple[int, int, float]]:
        """LLM calls, tokens and cost per user over the window's hours (rolled out to
        whole hours: a 24 h window reads 24 or 25 hours)."""
        w, service = self.window, self.filters.service
        return self._cached("usage", lambda: self.store.user_usage(w.start, w.end, service))

    def usage(self, index: int) -> float:
        """One column of per-user usage (0 calls, 1 tokens, 2 cost) for ``self.user``, or
        summed over users."""
        found = self.user_usage
        if self.user is not None:
            row = found.get(self.user)
            return float(row[index]) if row else 0.0
        return float(sum(row[index] for row in found.values()))

    def scoped(self, applies: FilterScope) -> Reading:
        """The same reading with only the filters in ``applies`` kept."""
        narrowed = Filters(
            **{n: getattr(self.filters, n) if n in applies else None for n in _FILTER_NAMES}
        )
        if narrowed == self.filters:
            return self
        return replace(self, filters=narrowed, _shared=self._shared)

    def preload(self, kind: str, value: object, filters: Filters | None = None) -> None:
        """Seed a read (``agg``, ``month``, ``hist``, ``open``) already made in bulk."""
        self._shared[(kind, filters or self.filters)] = value

    def _cached(self, kind: Hashable, make: Callable[[], _T], *, by_filters: bool = True) -> _T:
        key = (kind, self.filters if by_filters else None)
        if key not in self._shared:
            self._shared[key] = make()
        return cast(_T, self._shared[key])

    @property
    def agg(self) -> Aggregate:
        w = self.window
        raw = self._cached(
            "agg", lambda: self.store.aggregate(w.start, w.end, self.filters, now=self.now)
        )
        return self._relabelled("agg", raw)

    @property
    def month(self) -> Aggregate:
        """This UTC calendar month's LLM tokens and cost."""
        m = month_window(self.now)
        series = list(MONTH_SERIES)
        raw = self._cached(
            "month",
            lambda: self.store.aggregate(m.start, m.end, self.filters, series, now=self.now),
        )
        return self._relabelled("month", raw)

    @property
    def hists(self) -> HistGroups:
        w = self.window

        def make() -> HistGroups:
            groups = self.store.histograms(HIST_SERIES, w.start, w.end, self.filters, now=self.now)
            return {(str(k[0]), str(k[1])): bins for k, bins in groups.items()}

        raw = self._cached("hist", make)
        if self.providers is None:
            return raw

        def relabel() -> HistGroups:
            of = self._provider_of()
            out: HistGroups = {}
            for (series, model), bins in raw.items():
                add_counts(out.setdefault((series, of(model)), {}), bins)
            return out

        return self._cached(("hist", self.providers), relabel)

    def histogram(self, series: str) -> Bins:
        """Bins of one histogram series, for ``self.model`` or summed over models (merged
        once per reading: p50, p95 and p99 share them)."""

        if self.model is not None:  # one model: a lookup, not a scan of every model's bins
            return self.hists.get((series, self.model), {})

        def make() -> Bins:
            merged: Bins = {}
            for (s, _model), bins in self.hists.items():
                if s == series:
                    add_counts(merged, bins)
            return merged

        return self._cached((f"bins:{series}", self.providers), make)

    def quantile(self, series: str, q: float) -> float | None:
        return quantile(self.histogram(series), q)

    @property
    def open_sessions(self) -> tuple[int, int]:
        """(sessions open now, their open WebSocket connections)."""
        since = self.now - self.settings.session_idle_timeout_s
        found = self._cached("open", lambda: self.store.open_sessions(since, self.filters))
        return next(iter(found.values()), (0, 0))

    @property
    def system(self) -> SystemStats:
        return self._cached("system", read_system, by_filters=False)

    @property
    def heartbeats(self) -> list[Instance]:
        """Each app process's latest heartbeat in the last 15 minutes, for the service."""
        since = self.now - LIVE_LOOKBACK_S
        service = self.filters.service
        return self._cached("instances", lambda: self.store.instances(since, service))

    @property
    def instances(self) -> list[Instance]:
        """The app's live processes (by their SDK heartbeats), for the service filter."""
        return live(self.heartbeats, self.now)

    @property
    def last_seen(self) -> float | None:
        """When the service (any service, unfiltered) last sent anything: the start of
        its last minute with events since the window's start hour, or its latest heartbeat
        when that is later."""
        start, service = self.window.start, self.filters.service
        found = self._cached("last_seen", lambda: self.store.last_seen(start, service))
        beats = [i.ts for i in self.heartbeats if i.ts <= self.now]
        return max([*found.values(), *beats], default=None)

    @property
    def top_users(self) -> list[tuple[str, int]]:
        w = self.window
        return self._cached(
            "top_users",
            lambda: self.store.top_users(w.start, w.end, self.filters.service, limit=10),
        )
