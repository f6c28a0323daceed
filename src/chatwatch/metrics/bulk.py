"""Readings for every service at once: each kind of read is one query grouped by
service, so labelling every ``/metrics`` sample with its service costs no more queries
than one unlabelled reading."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from chatwatch.config import Settings
from chatwatch.metrics.reading import HIST_SERIES, MONTH_SERIES, HistGroups, Reading
from chatwatch.metrics.system import LIVE_LOOKBACK_S
from chatwatch.metrics.window import Window, month_window
from chatwatch.store import Aggregate, Filters, Instance, Store

__all__ = ["bulk_readings"]

_T = TypeVar("_T")


def bulk_readings(
    store: Store,
    settings: Settings,
    window: Window,
    now: float,
    also: Iterable[str] = (),
    memo: dict[str, Any] | None = None,
) -> dict[str, Reading]:
    """A reading per service seen in any read, plus the services in ``also``. The reads
    that do not depend on the window (this month, open sessions, processes) are kept in
    ``memo`` when given, so readings for several windows at one ``now`` (an alert round)
    make them once."""
    memo = {} if memo is None else memo

    def once(key: str, make: Callable[[], _T]) -> _T:
        if key not in memo:
            memo[key] = make()
        return cast(_T, memo[key])

    by = ("service",)
    aggs = store.aggregate_by(by, window.start, window.end, now=now)
    month = month_window(now)
    months = once(
        "months",
        lambda: store.aggregate_by(by, month.start, month.end, series=list(MONTH_SERIES), now=now),
    )
    hists: dict[str, HistGroups] = {}
    for (service, series, model), bins in store.histograms(
        HIST_SERIES, window.start, window.end, by=by, now=now
    ).items():
        hists.setdefault(service, {})[(series, model)] = bins
    opens = once(
        "opens",
        lambda: store.open_sessions(now - settings.session_idle_timeout_s, by_service=True),
    )
    seen = store.last_seen(window.start)
    procs: dict[str, list[Instance]] = {}
    for instance in once("instances", lambda: store.instances(now - LIVE_LOOKBACK_S)):
        procs.setdefault(instance.service, []).append(instance)
    known = {key[0] for key in aggs} | {key[0] for key in months} | set(opens) | set(hists)
    services = known | set(also)
    out: dict[str, Reading] = {}
    for service in sorted(services):
        reading = Reading(store, settings, window, Filters(service=service), now)
        reading.preload("agg", aggs.get((service,), Aggregate()))
        reading.preload("month", months.get((service,), Aggregate()))
        reading.preload("hist", hists.get(service, {}))
        reading.preload("open", {service: opens.get(service, (0, 0))})
        reading.preload("last_seen", {service: seen[service]} if service in seen else {})
        reading.preload("instances", procs.get(service, []))
        out[service] = reading
    return out
