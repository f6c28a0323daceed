"""The overview as one JSON document (``/analytics/api/data``): what the page first
renders and what it fetches again every 30 seconds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chatwatch.dashboard.cards import build_cards
from chatwatch.dashboard.charts import build_charts, step_for
from chatwatch.dashboard.tables import build_tables
from chatwatch.metrics import Catalogue, Reading
from chatwatch.store import Filters

__all__ = ["REFRESH_SECONDS", "build_data"]

REFRESH_SECONDS = 30


def _choices(cat: Catalogue, reading: Reading) -> dict[str, list[str]]:
    """Services and models to filter by: those with data in the window (plus the chosen)."""
    services = cat.store.services(reading.window.start)
    unfiltered = cat.reading(reading.window, Filters(service=reading.filters.service))
    models = cat.models(unfiltered)
    for chosen, found in ((reading.filters.service, services), (reading.filters.model, models)):
        if chosen and chosen not in found:
            found.append(chosen)
    return {"services": sorted(services), "models": sorted(models)}


def build_data(cat: Catalogue, reading: Reading, base: str) -> dict[str, Any]:
    w = reading.window
    return {
        "updated_at": datetime.fromtimestamp(reading.now, UTC).isoformat(timespec="seconds"),
        "now": reading.now,
        "window": {"start": w.start, "end": w.end, "label": w.label, "step": step_for(w)},
        "filters": {
            "service": reading.filters.service,
            "model": reading.filters.model,
        },
        "choices": _choices(cat, reading),
        "cards": build_cards(cat, reading),
        "charts": build_charts(cat, reading),
        "tables": build_tables(cat, reading, base),
        "refresh_seconds": REFRESH_SECONDS,
    }
