"""The catalogue as Prometheus metric families (``docs/metrics.md`` lists every name).

Counters and histograms are all-time sums of rollup series read from the store (daily
rollups, never compacted), so they are monotonic across restarts and equal on every
replica. Gauges are catalogue metrics: instant ones (sessions open now, this month's
spend, this process) and windowed ones (ratios, means, percentiles over
``prometheus_window``). Values are converted to Prometheus base units (seconds, bytes,
ratios 0-1).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from chatwatch.metrics.catalogue import Catalogue
from chatwatch.metrics.operational import OPERATIONAL_FAMILIES, StoreCollector
from chatwatch.metrics.reading import Reading
from chatwatch.store.rollup import PROM_BUCKETS

__all__ = [
    "COUNTED_BY",
    "COUNTERS",
    "GAUGES",
    "HISTOGRAMS",
    "LABEL_FAMILIES",
    "CatalogueCollector",
    "Counter",
    "Gauge",
    "Histogram",
    "family_names",
    "make_registry",
]

Row = tuple[str, str, str, str, str, str, int, float]
_MB = 1024.0 * 1024.0
_COLUMNS = ("service", "series", "model", "dim", "user_type", "channel")
_LE = (*(repr(b) for b in PROM_BUCKETS), "+Inf")


@dataclass(frozen=True)
class Counter:
    """An all-time counter: the sum of rollup ``parts`` ``(series, "n" | "total", fixed
    labels)``, labelled by rollup columns (``(label, column)``) after ``service``."""

    name: str
    doc: str
    parts: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]
    labels: tuple[tuple[str, str], ...] = ()
    scale: float = 1.0


@dataclass(frozen=True)
class Histogram:
    """Exact counts per guide-000 bucket (a ``*_prom`` series); sum and count from ``total``."""

    name: str
    doc: str
    buckets: str
    total: str
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Gauge:
    """A catalogue metric, scaled to base units; per model when the metric has that label."""

    name: str
    metric: str
    scale: float = 1.0
    kind: str = "window"  # window | now | process
    extra: dict[str, str] = field(default_factory=dict)


def _c(
    name: str,
    doc: str,
    series: str,
    value: str = "n",
    labels: tuple[tuple[str, str], ...] = (),
    scale: float = 1.0,
) -> Counter:
    return Counter(name, doc, ((series, value, ()),), labels, scale)


_UT = (("user_type", "user_type"),)

COUNTERS: tuple[Counter, ...] = (
    _c(
        "chat_messages",
        "Chat messages (a turn is a user and an assistant message)",
        "messages",
        labels=(("sender_type", "dim"), *_UT),
    ),
    _c("chat_sessions", "Chat sessions started", "sessions_started", labels=_UT),
    _c("chat_errors", "Chat turns that failed", "turns_failed", labels=(("error_type", "dim"),)),
    _c("chat_requests", "Chat turns answered (successful or not)", "turns", labels=_UT),
    _c(
        "chat_client_errors",
        "Successful chat turns answered with a 4xx status",
        "turns_client_error",
        labels=(("status", "dim"),),
    ),
    _c("chat_cached_responses", "Turns served from the response cache", "turns_cached"),
    _c(
        "chat_cache_recorded_responses",
        "Turns that recorded whether the response cache answered",
        "turns_cache_known",
    ),
    _c("chat_request_tokens", "Tokens reported on turns", "turn_tokens", "total"),
    _c("chat_rag_requests", "Turns that used retrieval", "turns_rag_used"),
    _c("chat_rag_requests_found", "Retrieving turns that found something", "turns_rag_found"),
    _c("chat_escalations", "Hand-overs to a human", "escalations"),
    _c("chat_escalated_sessions", "Sessions escalated (once each)", "sessions_escalated"),
    _c(
        "chat_reconnected_sessions", "Sessions that reconnected (once each)", "sessions_reconnected"
    ),
    _c("chat_feedback_ratings", "Ratings given, by stars", "ratings", labels=(("rating", "dim"),)),
    _c("chat_feedback_thumbs", "Thumbs feedback", "thumbs", labels=(("thumbs", "dim"),)),
    _c(
        "chat_websocket_events",
        "WebSocket connect, disconnect and reconnect events",
        "connections",
        labels=(("action", "dim"),),
    ),
    _c("chat_cache_lookups", "Recorded cache lookups", "cache_lookups", labels=(("kind", "dim"),)),
    _c(
        "chat_cache_hits",
        "Recorded cache lookups that hit",
        "cache_lookups",
        "total",
        labels=(("kind", "dim"),),
    ),
    _c("chat_llm_calls", "Model calls", "llm_calls", labels=(("model", "model"),)),
    _c(
        "chat_llm_errors",
        "Model calls that failed",
        "llm_failed",
        labels=(("model", "model"), ("error_type", "dim")),
    ),
    Counter(
        "chat_llm_tokens",
        "Model tokens, by type (input, output)",
        (
            ("llm_input_tokens", "total", (("type", "input"),)),
            ("llm_output_tokens", "total", (("type", "output"),)),
            # tokens of turns that recorded no model call of their own
            ("turn_llm_own", "total", (("type", "turn"),)),
        ),
        (("model", "model"),),
    ),
    _c(
        "chat_llm_cost_usd",
        "Cost of model calls in US dollars",
        "llm_cost",
        "total",
        (("model", "model"),),
    ),
    _c("chat_embedding_calls", "Embedding calls", "emb_calls", labels=(("model", "model"),)),
    _c(
        "chat_embedding_errors",
        "Embedding calls that failed",
        "emb_failed",
        labels=(("model", "model"), ("error_type", "dim")),
    ),
    _c("chat_embedding_tokens", "Tokens embedded", "emb_tokens", "total", (("model", "model"),)),
    _c(
        "chat_embedding_cost_usd",
        "Cost of embedding calls in US dollars",
        "emb_cost",
        "total",
        (("model", "model"),),
    ),
    Counter(
        "chat_rag_searches",
        "Retrieval searches (source=turn: a retrieving turn that recorded no search)",
        (
            ("rag_searches", "n", (("source", "search"),)),
            ("turn_rag_own", "n", (("source", "turn"),)),
        ),
    ),
    Counter(
        "chat_rag_no_results",
        "Retrieval searches returning nothing",
        (
            ("rag_no_results", "n", (("source", "search"),)),
            ("turn_rag_own_empty", "n", (("source", "turn"),)),
        ),
    ),
    _c("chat_rag_cache_hits", "Retrieval searches answered from cache", "rag_cache_hits"),
    _c(
        "chat_rag_search_seconds",
        "Summed retrieval search time",
        "rag_searches",
        "total",
        scale=0.001,
    ),
)

HISTOGRAMS: tuple[Histogram, ...] = (
    Histogram("chat_response_time_seconds", "Chat response time in seconds", "rt_prom", "turns"),
    Histogram(
        "chat_llm_latency_seconds",
        "Model call latency in seconds",
        "llm_prom",
        "llm_calls",
        (("model", "model"),),
    ),
)

GAUGES: tuple[Gauge, ...] = (
    Gauge("chat_active_sessions", "active_sessions", kind="now"),
    Gauge("chat_websocket_connections", "websocket_connections", kind="now"),
    Gauge("chat_active_sessions_usage_ratio", "active_sessions_usage", 0.01, "now"),
    Gauge("chat_websocket_usage_ratio", "websocket_usage", 0.01, "now"),
    Gauge("chat_llm_month_tokens", "month_tokens", kind="now"),
    Gauge("chat_llm_month_cost_usd", "month_cost_usd", kind="now"),
    Gauge("chat_llm_budget_usage_ratio", "budget_usage", 0.01, "now"),
    Gauge("chat_llm_token_budget_usage_ratio", "token_budget_usage", 0.01, "now"),
    Gauge("chat_process_cpu_ratio", "server_cpu_percent", 0.01, "process"),
    Gauge("chat_process_resident_memory_bytes", "server_memory_usage_mb", _MB, "process"),
    Gauge("chat_system_memory_available_bytes", "server_memory_available_mb", _MB, "process"),
    Gauge("chat_process_threads", "server_threads", kind="process"),
    Gauge("chat_process_uptime_seconds", "server_uptime_seconds", kind="process"),
    Gauge("chat_app_instances", "instances", kind="now"),
    Gauge("chat_app_resident_memory_bytes", "memory_usage_mb", _MB, "now"),
    Gauge("chat_app_cpu_ratio", "cpu_percent", 0.01, "now"),
    Gauge("chat_app_sdk_dropped_events", "sdk_dropped_events", kind="now"),
    Gauge("chat_seconds_since_last_event", "seconds_since_last_event", kind="now"),
    Gauge("chat_error_ratio", "error_rate", 0.01),
    Gauge("chat_success_ratio", "success_rate", 0.01),
    Gauge("chat_response_time_avg_seconds", "avg_response_time_ms", 0.001),
    Gauge("chat_response_time_p50_seconds", "p50_response_time_ms", 0.001),
    Gauge("chat_response_time_p95_seconds", "p95_response_time_ms", 0.001),
    Gauge("chat_response_time_p99_seconds", "p99_response_time_ms", 0.001),
    Gauge("chat_cache_hit_ratio", "cache_hit_rate", 0.01),
    Gauge("chat_tokens_per_request", "tokens_per_request"),
    Gauge("chat_messages_per_session", "messages_per_session"),
    Gauge("chat_reconnection_ratio", "reconnection_rate", 0.01),
    Gauge("chat_escalation_ratio", "escalation_rate", 0.01),
    Gauge("chat_satisfaction_rating", "satisfaction"),
    Gauge("chat_feedback_thumbs_up_ratio", "thumbs_up_share", 0.01),
    Gauge("chat_cache_lookup_hit_ratio", "cache_lookup_hit_rate", 0.01),
    Gauge("chat_llm_latency_avg_seconds", "llm_avg_latency_ms", 0.001),
    Gauge("chat_llm_latency_p50_seconds", "llm_p50_latency_ms", 0.001),
    Gauge("chat_llm_latency_p95_seconds", "llm_p95_latency_ms", 0.001),
    Gauge("chat_llm_latency_p99_seconds", "llm_p99_latency_ms", 0.001),
    Gauge("chat_llm_calls_share_ratio", "llm_call_share", 0.01),
    Gauge("chat_rag_success_ratio", "rag_success_rate", 0.01),
    Gauge("chat_rag_no_results_ratio", "rag_no_results_rate", 0.01),
    Gauge("chat_rag_similarity_avg", "rag_avg_similarity"),
    Gauge("chat_rag_search_time_avg_seconds", "rag_avg_search_time_ms", 0.001),
    Gauge("chat_rag_search_time_p95_seconds", "rag_p95_search_time_ms", 0.001),
    Gauge("chat_rag_cache_hit_ratio", "rag_cache_hit_rate", 0.01),
)

# Catalogue counts, exposed as all-time counters instead of windowed gauges.
COUNTED_BY: dict[str, str] = {
    "total_requests": "chat_requests_total",
    "cache_recorded_requests": "chat_cache_recorded_responses_total",
    "successful_requests": "chat_requests_total - chat_errors_total",
    "failed_requests": "chat_errors_total",
    "client_errors": "chat_client_errors_total",
    "llm_tokens_used": "chat_request_tokens_total",
    "rag_queries": "chat_rag_requests_total",
    "rag_no_results": "chat_rag_requests_total - chat_rag_requests_found_total",
    "messages": "chat_messages_total",
    "sessions": "chat_sessions_total",
    "escalations": "chat_escalations_total",
    "ratings": "chat_feedback_ratings_total",
    "llm_calls": "chat_llm_calls_total",
    "llm_failed_calls": "chat_llm_errors_total",
    "llm_input_tokens": 'chat_llm_tokens_total{type="input"}',
    "llm_output_tokens": 'chat_llm_tokens_total{type="output"}',
    "llm_tokens": "chat_llm_tokens_total",
    "llm_cost_usd": "chat_llm_cost_usd_total",
    "rag_searches": "chat_rag_searches_total",
    "rag_cache_hits": "chat_rag_cache_hits_total",
    "rag_cache_misses": "chat_rag_searches_total - chat_rag_cache_hits_total",
}


# chatwatch's own label caps (store/labels.py, docs/cardinality.md), labelled by label
LABEL_FAMILIES = ("chat_label_cap", "chat_label_values", "chat_label_folded_total")


def family_names() -> list[str]:
    """Every exposed family, as it appears in the text format (counters with ``_total``)."""
    return [
        *(f"{c.name}_total" for c in COUNTERS),
        *(h.name for h in HISTOGRAMS),
        *(g.name for g in GAUGES),
        *OPERATIONAL_FAMILIES,
        *LABEL_FAMILIES,
    ]


def _label(value: str) -> str:
    return value or "unknown"


def _totals_series() -> list[str]:
    series = {part[0] for c in COUNTERS for part in c.parts}
    series |= {h.buckets for h in HISTOGRAMS} | {h.total for h in HISTOGRAMS}
    return sorted(series)


def _by_series(rows: Iterable[Row]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        cells = dict(zip(_COLUMNS, row[:6], strict=True))
        cells["n"], cells["total"] = repr(row[6]), repr(row[7])
        out.setdefault(row[1], []).append(cells)
    return out


def _counter_families(rows: dict[str, list[dict[str, str]]]) -> Iterator[Metric]:
    for spec in COUNTERS:
        fixed_names = [label for label, _ in spec.parts[0][2]]
        names = ["service", *(label for label, _ in spec.labels), *fixed_names]
        sums: dict[tuple[str, ...], float] = {}
        for series, value, fixed in spec.parts:
            for cells in rows.get(series, ()):
                key = (
                    cells["service"],
                    *(_label(cells[column]) for _, column in spec.labels),
                    *(v for _, v in fixed),
                )
                sums[key] = sums.get(key, 0.0) + float(cells[value]) * spec.scale
        family = CounterMetricFamily(spec.name, spec.doc, labels=names)
        for key, total in sorted(sums.items()):
            family.add_metric(list(key), total)
        yield family


def _histogram_families(rows: dict[str, list[dict[str, str]]]) -> Iterator[Metric]:
    for spec in HISTOGRAMS:
        names = ["service", *(label for label, _ in spec.labels)]
        counts: dict[tuple[str, ...], dict[str, float]] = {}
        sums: dict[tuple[str, ...], float] = {}
        for cells in rows.get(spec.buckets, ()):
            key = (cells["service"], *(_label(cells[c]) for _, c in spec.labels))
            per_le = counts.setdefault(key, {})
            per_le[cells["dim"]] = per_le.get(cells["dim"], 0.0) + float(cells["n"])
        for cells in rows.get(spec.total, ()):
            key = (cells["service"], *(_label(cells[c]) for _, c in spec.labels))
            sums[key] = sums.get(key, 0.0) + float(cells["total"]) / 1000.0
        family = HistogramMetricFamily(spec.name, spec.doc, labels=names)
        for key, per_le in sorted(counts.items()):
            running, buckets = 0.0, []
            for le in _LE:
                running += per_le.get(le, 0.0)
                buckets.append((le, running))
            family.add_metric(list(key), buckets, sums.get(key, 0.0))
        yield family


def _gauge_families(
    cat: Catalogue, readings: dict[str, Reading], process: Reading, window: str
) -> Iterator[Metric]:
    for spec in GAUGES:
        metric = cat.metric(spec.metric)
        per_model = "model" in metric.labels
        over = {"window": f" over the last {window}", "now": "", "process": ""}[spec.kind]
        doc = f"{metric.description}{over} (catalogue: {metric.name})"
        family = GaugeMetricFamily(
            spec.name, doc, labels=["service", "model"] if per_model else ["service"]
        )
        if spec.kind == "process":
            _add(family, [cat.settings.service_name], cat.value(spec.metric, process), spec)
        else:
            for service, reading in readings.items():
                if per_model:
                    for model, value in sorted(cat.by_model(spec.metric, reading).items()):
                        _add(family, [service, model], value, spec)
                else:
                    _add(family, [service], cat.value(spec.metric, reading), spec)
        yield family


def _label_families(cat: Catalogue) -> Iterator[Metric]:
    status = cat.store.label_status()
    cap = GaugeMetricFamily(
        "chat_label_cap",
        "Distinct values a label keeps in the rollups",
        labels=["service", "label"],
    )
    kept = GaugeMetricFamily(
        "chat_label_values", "Distinct values a label has admitted", labels=["service", "label"]
    )
    folded = CounterMetricFamily(
        "chat_label_folded",
        "Rollup increments counted under 'other' because their label was at its cap",
        labels=["service", "label"],
    )
    me = cat.settings.service_name  # labelled like the process gauges: chatwatch itself
    for s in status:
        cap.add_metric([me, s.label], s.cap)
        kept.add_metric([me, s.label], s.values)
        folded.add_metric([me, s.label], s.folded)
    yield from (cap, kept, folded)


def _add(family: GaugeMetricFamily, labels: list[str], value: float | None, spec: Gauge) -> None:
    if value is not None:
        family.add_metric(labels, value * spec.scale)


class CatalogueCollector(Collector):
    """Collects on every scrape: one all-time totals query plus one grouped reading."""

    def __init__(self, catalogue: Catalogue, window: str) -> None:
        self.catalogue = catalogue
        self.window = window

    def collect(self) -> Iterable[Metric]:
        cat = self.catalogue
        rows = _by_series(cat.totals(_totals_series()))
        services = {cells["service"] for cells_list in rows.values() for cells in cells_list}
        window = cat.window(self.window)
        readings = cat.per_service(window, services)
        families = [
            *_counter_families(rows),
            *_histogram_families(rows),
            *_gauge_families(cat, readings, cat.reading(window), self.window),
            *_label_families(cat),
        ]
        return families


def make_registry(catalogue: Catalogue, window: str) -> CollectorRegistry:
    """A fresh registry holding only chatwatch's collector (never the global one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CatalogueCollector(catalogue, window))
    registry.register(StoreCollector(catalogue.store))
    return registry
