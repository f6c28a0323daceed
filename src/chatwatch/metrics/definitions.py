"""Every metric, defined once: what it means, its unit, how it comes from the rollups, and
the default thresholds the guides give. Nothing else in chatwatch computes a number.

A metric's ``compute`` takes a :class:`~chatwatch.metrics.reading.Reading` (a window's
rollups, read once) and returns a float, or None when there is nothing to divide by.
Metrics with ``labels=("model",)`` are computed for all models or for one
(``Reading.model``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from chatwatch.metrics.system import per_host, summed

if TYPE_CHECKING:
    from chatwatch.metrics.reading import Reading

__all__ = [
    "BREAKDOWNS",
    "LLM",
    "METRICS",
    "PLAIN",
    "SESSION",
    "TURN",
    "Breakdown",
    "FilterScope",
    "Metric",
    "Threshold",
    "unhonoured",
]

FilterScope = frozenset[str]
# Which filters narrow a metric: the columns its rollup series carry. Every series has
# service and user_type; turns and LLM calls carry a model, sessions and connections a
# channel. A filter outside a metric's scope is ignored for that metric.
PLAIN: FilterScope = frozenset({"service", "user_type"})
TURN: FilterScope = PLAIN | {"model"}
LLM: FilterScope = TURN
SESSION: FilterScope = PLAIN | {"channel"}


def unhonoured(scope: FilterScope, given: dict[str, str | None]) -> list[str]:
    """The filters given (not None) that a metric of this scope cannot narrow by: an
    answer says so instead of silently ignoring them."""
    return sorted(name for name, value in given.items() if value is not None and name not in scope)


@dataclass(frozen=True)
class Threshold:
    op: Literal[">", "<"]
    warning: float | None = None
    critical: float | None = None

    def level(self, value: float | None) -> Literal["ok", "warning", "critical"]:
        if value is None:
            return "ok"
        crossed: Callable[[float], bool] = (
            (lambda t: value > t) if self.op == ">" else (lambda t: value < t)
        )
        if self.critical is not None and crossed(self.critical):
            return "critical"
        if self.warning is not None and crossed(self.warning):
            return "warning"
        return "ok"


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str  # count, percent, ms, usd, tokens, ratio, rating, mb, seconds
    description: str
    compute: Callable[[Reading], float | None]
    threshold: Threshold | None = None
    labels: tuple[str, ...] = ()
    instant: bool = False  # a value now, not over a window
    samples: str | None = None  # the metric counting the samples behind a rate
    histogram: str | None = None  # the rollup histogram a percentile reads
    filters: FilterScope = frozenset({"service"})  # the filters that narrow it


@dataclass(frozen=True)
class Breakdown:
    name: str
    description: str
    compute: Callable[[Reading], dict[str, float]]
    filters: FilterScope = frozenset({"service"})


def _ratio(num: float, den: float, scale: float = 1.0) -> float | None:
    return None if den <= 0 else num / den * scale


def _pct(num: float, den: float) -> float | None:
    return _ratio(num, den, 100.0)


def _turns(r: Reading) -> int:
    return r.agg.n("turns")


def _failed(r: Reading) -> int:
    return r.agg.n("turns_failed")


def _llm_tokens(r: Reading) -> float:
    """LLM calls' tokens, plus the tokens of turns that recorded no LLM call of their own
    (guide 003's POST, ``record_turn``): a turn's tokens are in the LLM section once,
    from its calls when it has them, else from the turn."""
    return (
        r.agg.total("llm_input_tokens", model=r.model)
        + r.agg.total("llm_output_tokens", model=r.model)
        + r.agg.total("turn_llm_own", model=r.model)
    )


def _rag_searches(r: Reading) -> int:
    """Searches recorded, plus one per retrieving turn that recorded no search itself."""
    return r.agg.n("rag_searches") + r.agg.n("turn_rag_own")


def _rag_empty(r: Reading) -> int:
    return r.agg.n("rag_no_results") + r.agg.n("turn_rag_own_empty")


def _month_cost(r: Reading) -> float:
    """Chat and embedding calls: the budget is one sum of money."""
    return r.month.total("llm_cost", model=r.model) + r.month.total("emb_cost", model=r.model)


def _month_tokens(r: Reading) -> float:
    return (
        r.month.total("llm_input_tokens", model=r.model)
        + r.month.total("llm_output_tokens", model=r.model)
        + r.month.total("turn_llm_own", model=r.model)
    )


def _uptime(r: Reading) -> float | None:
    started = [i.started_at for i in r.instances if i.started_at is not None]
    return max(r.now - min(started), 0.0) if started else None


def _mean_rating(r: Reading) -> float | None:
    return _ratio(r.agg.total("ratings"), r.agg.n("ratings"))


def _m(
    name: str,
    unit: str,
    description: str,
    compute: Callable[[Reading], float | None],
    threshold: Threshold | None = None,
    **kw: object,
) -> Metric:
    return Metric(name, unit, description, compute, threshold, **kw)  # type: ignore[arg-type]


_MODEL = ("model",)
_USER = ("user_id",)

METRICS: tuple[Metric, ...] = (
    # chat turns (guides 000 and 003)
    _m(
        "total_requests",
        "count",
        "Turns answered (successful or not)",
        lambda r: _turns(r),
        filters=TURN,
    ),
    _m(
        "successful_requests",
        "count",
        "Turns answered without error",
        lambda r: _turns(r) - _failed(r),
        filters=TURN,
    ),
    _m(
        "failed_requests",
        "count",
        "Turns that ended in an error",
        lambda r: _failed(r),
        filters=TURN,
    ),
    _m(
        "client_errors",
        "count",
        "Successful turns answered with a 4xx status (the client's mistake, not a failure)",
        lambda r: r.agg.n("turns_client_error"),
        filters=TURN,
    ),
    _m(
        "error_rate",
        "percent",
        "Share of turns that failed (escalations are not errors)",
        lambda r: _pct(_failed(r), _turns(r)),
        Threshold(">", 5.0, 10.0),
        samples="total_requests",
        filters=TURN,
    ),
    _m(
        "success_rate",
        "percent",
        "Share of turns answered without error",
        lambda r: _pct(_turns(r) - _failed(r), _turns(r)),
        samples="total_requests",
        filters=TURN,
    ),
    _m(
        "avg_response_time_ms",
        "ms",
        "Mean time from user message to answer",
        lambda r: _ratio(r.agg.total("turns"), _turns(r)),
        Threshold(">", 2000.0, 5000.0),
        samples="total_requests",
        filters=TURN,
    ),
    _m(
        "p50_response_time_ms",
        "ms",
        "Median response time",
        lambda r: r.quantile("turn_rt", 0.50),
        histogram="turn_rt",
        samples="total_requests",
        filters=TURN,
    ),
    _m(
        "p95_response_time_ms",
        "ms",
        "95th percentile response time",
        lambda r: r.quantile("turn_rt", 0.95),
        histogram="turn_rt",
        samples="total_requests",
        filters=TURN,
    ),
    _m(
        "p99_response_time_ms",
        "ms",
        "99th percentile response time",
        lambda r: r.quantile("turn_rt", 0.99),
        histogram="turn_rt",
        samples="total_requests",
        filters=TURN,
    ),
    _m(
        "cache_recorded_requests",
        "count",
        "Turns that recorded whether the response cache answered",
        lambda r: r.agg.n("turns_cache_known"),
        filters=TURN,
    ),
    _m(
        "cache_hit_rate",
        "percent",
        "Share of answers served from the response cache, among turns that recorded it",
        lambda r: _pct(r.agg.n("turns_cached"), r.agg.n("turns_cache_known")),
        Threshold("<", 30.0),
        samples="cache_recorded_requests",
        filters=TURN,
    ),
    _m(
        "llm_tokens_used",
        "tokens",
        "Tokens reported on turns",
        lambda r: r.agg.total("turn_tokens"),
        filters=TURN,
    ),
    _m(
        "tokens_per_request",
        "tokens",
        "Mean tokens per turn",
        lambda r: _ratio(r.agg.total("turn_tokens"), _turns(r)),
        Threshold(">", 1000.0),
        samples="total_requests",
        filters=TURN,
    ),
    _m(
        "rag_queries",
        "count",
        "Turns that used retrieval",
        lambda r: r.agg.n("turns_rag_used"),
        filters=TURN,
    ),
    _m(
        "rag_no_results",
        "count",
        "Turns that used retrieval and found nothing",
        lambda r: r.agg.n("turns_rag_used") - r.agg.n("turns_rag_found"),
        filters=TURN,
    ),
    _m(
        "rag_success_rate",
        "percent",
        "Share of retrieving turns that found something",
        lambda r: _pct(r.agg.n("turns_rag_found"), r.agg.n("turns_rag_used")),
        Threshold("<", 90.0),
        samples="rag_queries",
        filters=TURN,
    ),
    _m(
        "messages",
        "count",
        "Messages (a turn is a user and an assistant message)",
        lambda r: r.agg.n("messages"),
        filters=PLAIN,
    ),
    _m(
        "messages_per_session",
        "ratio",
        "Messages per session started",
        lambda r: _ratio(r.agg.n("messages"), r.agg.n("sessions_started")),
        filters=PLAIN,
    ),
    # sessions and connections (guide 000)
    _m(
        "sessions",
        "count",
        "Sessions started",
        lambda r: r.agg.n("sessions_started"),
        filters=SESSION,
    ),
    _m(
        "active_sessions",
        "count",
        "Sessions open now (not ended, seen within the idle timeout)",
        lambda r: r.open_sessions[0],
        instant=True,
        filters=SESSION,
    ),
    _m(
        "active_sessions_usage",
        "percent",
        "Active sessions against max_concurrent_sessions",
        lambda r: _pct(r.open_sessions[0], r.settings.max_concurrent_sessions),
        Threshold(">", 80.0, 90.0),
        instant=True,
        filters=SESSION,
    ),
    _m(
        "websocket_connections",
        "count",
        "WebSocket connections open now",
        lambda r: r.open_sessions[1],
        instant=True,
        filters=SESSION,
    ),
    _m(
        "websocket_usage",
        "percent",
        "Open connections against max_websocket_connections",
        lambda r: _pct(r.open_sessions[1], r.settings.max_websocket_connections),
        Threshold(">", 80.0),
        instant=True,
        filters=SESSION,
    ),
    _m(
        "reconnection_rate",
        "percent",
        "Share of sessions started that had to reconnect",
        lambda r: _pct(r.agg.n("sessions_reconnected"), r.agg.n("sessions_started")),
        Threshold(">", 10.0),
        samples="sessions",
        filters=SESSION,
    ),
    _m(
        "escalations",
        "count",
        "Hand-overs to a human",
        lambda r: r.agg.n("escalations"),
        filters=PLAIN,
    ),
    _m(
        "escalation_rate",
        "percent",
        "Share of sessions started that were escalated",
        lambda r: _pct(r.agg.n("sessions_escalated"), r.agg.n("sessions_started")),
        Threshold(">", 20.0),
        samples="sessions",
        filters=SESSION,
    ),
    _m("ratings", "count", "Ratings given", lambda r: r.agg.n("ratings"), filters=PLAIN),
    _m(
        "satisfaction",
        "rating",
        "Mean rating, 1 to 5",
        _mean_rating,
        Threshold("<", 3.5),
        samples="ratings",
        filters=PLAIN,
    ),
    _m(
        "thumbs_up_share",
        "percent",
        "Share of thumbs feedback that is up",
        lambda r: _pct(r.agg.n("thumbs", dim="up"), r.agg.n("thumbs")),
        filters=PLAIN,
    ),
    _m(
        "cache_lookup_hit_rate",
        "percent",
        "Hits among recorded cache lookups",
        lambda r: _pct(r.agg.total("cache_lookups"), r.agg.n("cache_lookups")),
        filters=PLAIN,
    ),
    # LLM (guide 003, per model)
    _m(
        "llm_calls",
        "count",
        "Model calls",
        lambda r: r.agg.n("llm_calls", model=r.model),
        labels=_MODEL,
        filters=LLM,
    ),
    _m(
        "llm_failed_calls",
        "count",
        "Model calls that failed",
        lambda r: r.agg.n("llm_failed", model=r.model),
        labels=_MODEL,
        filters=LLM,
    ),
    _m(
        "llm_error_rate",
        "percent",
        "Share of model calls that failed",
        lambda r: _pct(r.agg.n("llm_failed", model=r.model), r.agg.n("llm_calls", model=r.model)),
        labels=_MODEL,
        samples="llm_calls",
        filters=LLM,
    ),
    _m(
        "llm_input_tokens",
        "tokens",
        "Prompt tokens",
        lambda r: r.agg.total("llm_input_tokens", model=r.model),
        labels=_MODEL,
        filters=LLM,
    ),
    _m(
        "llm_output_tokens",
        "tokens",
        "Completion tokens",
        lambda r: r.agg.total("llm_output_tokens", model=r.model),
        labels=_MODEL,
        filters=LLM,
    ),
    _m(
        "llm_tokens",
        "tokens",
        "Prompt and completion tokens",
        _llm_tokens,
        labels=_MODEL,
        filters=LLM,
    ),
    _m(
        "llm_avg_latency_ms",
        "ms",
        "Mean model call latency",
        lambda r: _ratio(
            r.agg.total("llm_calls", model=r.model), r.agg.n("llm_calls", model=r.model)
        ),
        Threshold(">", 2000.0),
        labels=_MODEL,
        samples="llm_calls",
        filters=LLM,
    ),
    _m(
        "llm_p50_latency_ms",
        "ms",
        "Median model call latency",
        lambda r: r.quantile("llm_latency", 0.50),
        histogram="llm_latency",
        labels=_MODEL,
        samples="llm_calls",
        filters=LLM,
    ),
    _m(
        "llm_p95_latency_ms",
        "ms",
        "95th percentile model call latency",
        lambda r: r.quantile("llm_latency", 0.95),
        histogram="llm_latency",
        labels=_MODEL,
        samples="llm_calls",
        filters=LLM,
    ),
    _m(
        "llm_p99_latency_ms",
        "ms",
        "99th percentile model call latency",
        lambda r: r.quantile("llm_latency", 0.99),
        histogram="llm_latency",
        labels=_MODEL,
        samples="llm_calls",
        filters=LLM,
    ),
    _m(
        "llm_cost_usd",
        "usd",
        "Cost of model calls (price table when not reported)",
        lambda r: r.agg.total("llm_cost", model=r.model),
        labels=_MODEL,
        filters=LLM,
    ),
    _m(
        "embedding_calls",
        "count",
        "Embedding calls (kept apart from the chat calls above)",
        lambda r: r.agg.n("emb_calls", model=r.model),
        labels=_MODEL,
        filters=LLM,
    ),
    _m(
        "embedding_failed_calls",
        "count",
        "Embedding calls that failed",
        lambda r: r.agg.n("emb_failed", model=r.model),
        labels=_MODEL,
        filters=LLM,
    ),
    _m(
        "embedding_tokens",
        "tokens",
        "Tokens embedded",
        lambda r: r.agg.total("emb_tokens", model=r.model),
        labels=_MODEL,
        filters=LLM,
    ),
    _m(
        "embedding_cost_usd",
        "usd",
        "Cost of embedding calls (price table when not reported)",
        lambda r: r.agg.total("emb_cost", model=r.model),
        labels=_MODEL,
        filters=LLM,
    ),
    _m(
        "llm_call_share",
        "percent",
        "Share of all model calls going to this model",
        lambda r: _pct(r.agg.n("llm_calls", model=r.model), r.agg.n("llm_calls")),
        labels=_MODEL,
        filters=PLAIN,
    ),
    _m(
        "month_tokens",
        "tokens",
        "Model tokens this calendar month (UTC)",
        _month_tokens,
        labels=_MODEL,
        instant=True,
        filters=LLM,
    ),
    _m(
        "month_cost_usd",
        "usd",
        "Model cost this calendar month (UTC)",
        _month_cost,
        labels=_MODEL,
        instant=True,
        filters=LLM,
    ),
    _m(
        "budget_usage",
        "percent",
        "This month's cost against monthly_budget_usd",
        lambda r: _pct(_month_cost(r), r.settings.monthly_budget_usd or 0),
        Threshold(">", 80.0, 95.0),
        instant=True,
        filters=LLM,
    ),
    _m(
        "token_budget_usage",
        "percent",
        "This month's tokens against monthly_token_budget",
        lambda r: _pct(_month_tokens(r), r.settings.monthly_token_budget or 0),
        Threshold(">", 80.0, 95.0),
        instant=True,
        filters=LLM,
    ),
    # per user, over the window's whole hours: rolling cost and token limits
    _m(
        "user_llm_calls",
        "count",
        "Model calls made for the user (calls that carry a user_id)",
        lambda r: r.usage(0),
        labels=_USER,
    ),
    _m(
        "user_llm_tokens",
        "tokens",
        "Prompt and completion tokens of the user's model calls",
        lambda r: r.usage(1),
        labels=_USER,
    ),
    _m(
        "user_llm_cost_usd",
        "usd",
        "Cost of the user's model calls (priced calls only)",
        lambda r: r.usage(2),
        labels=_USER,
    ),
    # RAG (guide 003)
    _m(
        "rag_searches",
        "count",
        "Retrieval searches (a retrieving turn without search events counts as one)",
        _rag_searches,
        filters=PLAIN,
    ),
    _m(
        "rag_no_results_rate",
        "percent",
        "Share of searches returning nothing",
        lambda r: _pct(_rag_empty(r), _rag_searches(r)),
        filters=PLAIN,
    ),
    _m(
        "rag_avg_similarity",
        "ratio",
        "Mean similarity of searches that returned results",
        lambda r: _ratio(r.agg.total("rag_scored"), r.agg.n("rag_scored")),
        Threshold("<", 0.5),
        samples="rag_searches",
        filters=PLAIN,
    ),
    _m(
        "rag_avg_search_time_ms",
        "ms",
        "Mean search time",
        lambda r: _ratio(r.agg.total("rag_searches"), r.agg.n("rag_searches")),
        filters=PLAIN,
    ),
    _m(
        "rag_p95_search_time_ms",
        "ms",
        "95th percentile search time",
        lambda r: r.quantile("rag_search_time", 0.95),
        histogram="rag_search_time",
        filters=PLAIN,
    ),
    _m(
        "rag_cache_hits",
        "count",
        "Searches answered from cache",
        lambda r: r.agg.n("rag_cache_hits"),
        filters=PLAIN,
    ),
    _m(
        "rag_cache_misses",
        "count",
        "Searches not answered from cache",
        lambda r: _rag_searches(r) - r.agg.n("rag_cache_hits"),
        filters=PLAIN,
    ),
    _m(
        "rag_cache_hit_rate",
        "percent",
        "Share of searches answered from cache",
        lambda r: _pct(r.agg.n("rag_cache_hits"), _rag_searches(r)),
        Threshold("<", 30.0),
        samples="rag_searches",
        filters=PLAIN,
    ),
    # the monitored app's processes, from the SDK's heartbeats (guide 003's `system`)
    _m(
        "instances",
        "count",
        "The app's live processes (a heartbeat within three intervals)",
        lambda r: float(len(r.instances)),
        instant=True,
    ),
    _m(
        "cpu_percent",
        "percent",
        "CPU used by the app's processes, summed",
        lambda r: summed([i.cpu_percent for i in r.instances]),
        instant=True,
    ),
    _m(
        "memory_usage_mb",
        "mb",
        "Resident memory of the app's processes, summed",
        lambda r: summed([i.memory_rss_mb for i in r.instances]),
        Threshold(">", 4000.0),
        instant=True,
    ),
    _m(
        "memory_available_mb",
        "mb",
        "Memory available on the app's hosts (each host once)",
        lambda r: per_host(r.instances),
        instant=True,
    ),
    _m(
        "threads",
        "count",
        "Threads of the app's processes, summed",
        lambda r: summed([i.threads for i in r.instances]),
        instant=True,
    ),
    _m(
        "open_connections",
        "count",
        "Network connections the app's processes hold open (where the OS tells)",
        lambda r: summed([i.connections for i in r.instances]),
        instant=True,
    ),
    _m(
        "sdk_queue_depth",
        "count",
        "Events waiting in the app's SDK queues",
        lambda r: summed([i.queue_depth for i in r.instances]),
        instant=True,
    ),
    _m(
        "sdk_dropped_events",
        "count",
        "Events the app's SDKs dropped since their processes started",
        lambda r: summed([i.dropped for i in r.instances]),
        instant=True,
    ),
    _m(
        "uptime_seconds",
        "seconds",
        "Time since the app's oldest live process started",
        lambda r: _uptime(r),
        instant=True,
    ),
    _m(
        "seconds_since_last_event",
        "seconds",
        "Time since the service last sent anything, heartbeats included (to the minute)",
        lambda r: None if r.last_seen is None else max(r.now - r.last_seen, 0.0),
        instant=True,
    ),
    # the chatwatch server's own process
    _m(
        "server_cpu_percent",
        "percent",
        "CPU used by the chatwatch process",
        lambda r: r.system.cpu_percent,
        instant=True,
        filters=frozenset(),
    ),
    _m(
        "server_memory_usage_mb",
        "mb",
        "Resident memory of the chatwatch process",
        lambda r: r.system.memory_usage_mb,
        instant=True,
        filters=frozenset(),
    ),
    _m(
        "server_memory_available_mb",
        "mb",
        "Memory available on the chatwatch machine",
        lambda r: r.system.memory_available_mb,
        instant=True,
        filters=frozenset(),
    ),
    _m(
        "server_threads",
        "count",
        "Threads of the chatwatch process",
        lambda r: float(r.system.threads),
        instant=True,
        filters=frozenset(),
    ),
    _m(
        "server_uptime_seconds",
        "seconds",
        "Time since the chatwatch process started",
        lambda r: r.system.uptime_seconds,
        instant=True,
        filters=frozenset(),
    ),
)


def _share(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {k: v / total * 100 for k, v in counts.items()} if total else {}


BREAKDOWNS: tuple[Breakdown, ...] = (
    Breakdown(
        "rating_distribution",
        "Ratings given, by stars",
        lambda r: {str(k): float(r.agg.n("ratings", dim=str(k))) for k in range(1, 6)},
        PLAIN,
    ),
    Breakdown(
        "top_topics",
        "Turns per topic, most first",
        lambda r: _top(r.agg.by_dim("topics"), 10),
        TURN,
    ),
    Breakdown(
        "errors_by_type",
        "Failed turns by error type",
        lambda r: _top(r.agg.by_dim("turns_failed"), 20),
        TURN,
    ),
    Breakdown(
        "model_distribution",
        "Share of model calls per model (percent)",
        lambda r: _share(r.agg.by_dim_model("llm_calls")),
        PLAIN,
    ),
    Breakdown(
        "rag_similarity_distribution",
        "Searches per similarity bin (lower edge)",
        lambda r: {k: float(v) for k, v in sorted(r.agg.by_dim("rag_sim_bins").items())},
        PLAIN,
    ),
    Breakdown(
        "messages_by_sender",
        "Messages by sender type",
        lambda r: {k: float(v) for k, v in sorted(r.agg.by_dim("messages").items())},
        PLAIN,
    ),
    Breakdown(
        "connections_by_action",
        "WebSocket connect, disconnect and reconnect events",
        lambda r: {k: float(v) for k, v in sorted(r.agg.by_dim("connections").items())},
        SESSION,
    ),
    Breakdown(
        "cache_lookups_by_kind",
        "Cache lookups by kind",
        lambda r: {k: float(v) for k, v in sorted(r.agg.by_dim("cache_lookups").items())},
        PLAIN,
    ),
    Breakdown(
        "top_users",
        "Users by messages sent (whole UTC days)",
        lambda r: {u: float(n) for u, n in r.top_users},
    ),
)


def _top(counts: dict[str, int], limit: int) -> dict[str, float]:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return {k: float(v) for k, v in ranked}
