"""The overview as one JSON document (``/analytics/api/data``): what the page first
renders and what it fetches again every 30 seconds.

Its reads are independent (the window's rollups, the series behind the time charts,
today/week/month, the session tables), so they run side by side on a few threads:
the database works while Python sums, and the page costs about its slowest read.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from chatwatch.dashboard.cards import CARDS, build_cards, calendar_readings
from chatwatch.dashboard.charts import build_charts, step_for, time_charts, time_series
from chatwatch.dashboard.tables import build_tables
from chatwatch.metrics import Catalogue, Reading
from chatwatch.store import Filters

__all__ = ["REFRESH_SECONDS", "build_data", "filter_notices", "label_notices"]

REFRESH_SECONDS = 30
_WORKERS = 4
_T = TypeVar("_T")


def _choices(cat: Catalogue, reading: Reading) -> dict[str, list[str]]:
    """Services and models to filter by: those with data in the window (plus the chosen)."""
    services = cat.store.services(reading.window.start)
    unfiltered = cat.reading(reading.window, Filters(service=reading.filters.service))
    models = cat.models(unfiltered)
    for chosen, found in ((reading.filters.service, services), (reading.filters.model, models)):
        if chosen and chosen not in found:
            found.append(chosen)
    return {"services": sorted(services), "models": sorted(models)}


def label_notices(cat: Catalogue) -> list[str]:
    """One sentence per label at its cap: its later values are counted under ``other``."""
    return [
        f"{s.label} keeps its first {s.cap} values; later ones "
        f"({s.folded:,} rollup increments so far) are counted under 'other' "
        f"(CHATWATCH_MAX_* settings)."
        for s in cat.store.label_status()
        if s.folded
    ]


def filter_notices(cat: Catalogue, reading: Reading) -> list[str]:
    """One sentence per filter chosen that some cards cannot narrow by (a model on the
    session cards): said on the page, not silently ignored."""
    stats = [(card, stat) for card in CARDS for stat in (card.main, *card.subs)]
    ignored = cat.ignored_filters(dict.fromkeys(s.metric for _, s in stats), reading.filters)
    notices = []
    for name, metrics in ignored.items():
        listed: list[str] = []
        for card, stat in stats:
            if stat.metric not in metrics or card.title in listed:
                continue
            # the card by its title; a figure under it by the card and its label
            what = card.title if stat is card.main else f"{card.title}: {stat.label}"
            if what not in listed:
                listed.append(what)
        notices.append(
            f"Not narrowed by {name}: {', '.join(listed)} (these figures carry no {name})."
        )
    return notices


def _warm(reading: Reading) -> Callable[[], None]:
    """Read the window's rollups every card and breakdown shares, once."""

    def warm() -> None:
        reading.agg  # noqa: B018  (a cached read)
        reading.hists  # noqa: B018
        reading.open_sessions  # noqa: B018

    return warm


def build_data(cat: Catalogue, reading: Reading, base: str) -> dict[str, Any]:
    w = reading.window
    with ThreadPoolExecutor(_WORKERS, thread_name_prefix="dashboard") as pool:

        def run(fn: Callable[..., _T], *args: Any) -> Future[_T]:
            # in this read's context: its cancellation reaches the pool's threads too
            return pool.submit(contextvars.copy_context().run, fn, *args)

        warm = run(_warm(reading))
        month = run(lambda: reading.month)
        series = run(time_series, cat, reading)
        calendar = run(calendar_readings, cat, reading)
        tables = run(build_tables, cat, reading, base)
        choices = run(_choices, cat, reading)
        notices = run(label_notices, cat)
        warm.result()
        month.result()
        cards = build_cards(cat, reading, calendar.result())
        made = time_charts(cat, reading, series.result())
        charts = build_charts(cat, reading, made)
        return {
            "updated_at": datetime.fromtimestamp(reading.now, UTC).isoformat(timespec="seconds"),
            "now": reading.now,
            "window": {"start": w.start, "end": w.end, "label": w.label, "step": step_for(w)},
            "filters": {"service": reading.filters.service, "model": reading.filters.model},
            "choices": choices.result(),
            "cards": cards,
            "charts": charts,
            "tables": tables.result(),
            "refresh_seconds": REFRESH_SECONDS,
            "notices": [*filter_notices(cat, reading), *notices.result()],
        }
