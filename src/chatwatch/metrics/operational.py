"""The store's own health as Prometheus families, beside the catalogue's: what it could
not fold. Not chat metrics, so not in the
catalogue, and labelled by nothing (they belong to the database, not to a service)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chatwatch.store import Store

__all__ = ["OPERATIONAL_FAMILIES", "StoreCollector"]

QUARANTINED = "chat_journal_quarantined_rows"
FOLD_FAILURES = "chat_journal_fold_failures"
OPERATIONAL_FAMILIES = (QUARANTINED, FOLD_FAILURES)


class StoreCollector(Collector):
    """Collected on every scrape: one count of the quarantine table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterable[Metric]:
        held = GaugeMetricFamily(
            QUARANTINED,
            "Rollup-journal rows that failed to fold, kept aside in rollup_journal_quarantine "
            "(their events are stored but counted in no metric)",
        )
        held.add_metric([], float(self.store.quarantined()))
        failing = GaugeMetricFamily(
            FOLD_FAILURES,
            "Rollup-journal folds failed in a row in this process (database unwritable or gone)",
        )
        failing.add_metric([], float(self.store.fold_failures))
        return [held, failing]
