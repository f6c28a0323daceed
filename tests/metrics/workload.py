"""A generated chat workload and the answers to every catalogue metric, computed here
from the raw events alone (no chatwatch code), to check the catalogue against."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

NOW = datetime(2026, 11, 10, 12, 30, 27, tzinfo=UTC).timestamp()
MINUTE, HOUR, DAY = 60, 3600, 86400
IDLE_TIMEOUT = 1800
MINUTE_RETENTION = 7 * DAY
BUDGET_USD = 0.5
TOKEN_BUDGET = 400_000
MAX_SESSIONS = 100
MAX_CONNECTIONS = 100

SERVICES = ("shop", "help")
MODELS = ("llama-3.1-8b-instant", "llama-3.3-70b-versatile", "glm-4-plus", "house-model")
# USD per million tokens (input, output), as the price table has them; house-model has none
PRICES = {
    "llama-3.1-8b-instant": (0.05, 0.08),
    "llama-3.3-70b-versatile": (0.59, 0.79),
    "glm-4-plus": (0.14, 0.14),
    "text-embedding-3-small": (0.02, 0.0),
}
TOPICS = ("billing", "shipping", "returns", "account", "product", "other")
ERRORS = ("Timeout", "RateLimit", None)

Event = dict[str, Any]


def workload(seed: int = 7, sessions: int = 650) -> list[Event]:
    """Sessions spread over 40 days, denser towards now, each a realistic run of events."""
    rng = random.Random(seed)
    users = [(f"u{i:03d}", rng.choice(("free", "premium", None))) for i in range(80)]
    events: list[Event] = []
    for index in range(sessions):
        age = rng.choice(
            (rng.uniform(0, 600), rng.uniform(0, 7200), rng.uniform(0, DAY), *[None] * 3)
        )
        start = NOW - (age if age is not None else rng.uniform(0, 40 * DAY))
        service = SERVICES[index % 3 == 0]
        user, user_type = rng.choice(users)
        events.extend(_session(rng, f"s{index}", service, user, user_type, start))
    events.extend(heartbeats(random.Random(seed + 1)))
    return sorted(events, key=lambda e: (e["ts"], e["id"]))


def heartbeats(rng: random.Random) -> list[Event]:
    """SDK heartbeats every 15 s for the last 10 minutes: two live processes of "shop",
    one of "help", and a "help" process that stopped four minutes ago (no longer live)."""
    procs = [("shop", "web-1", 101, 0.0), ("shop", "web-2", 102, 0.0), ("help", "web-1", 201, 0.0)]
    procs.append(("help", "web-3", 301, 240.0))
    out: list[Event] = []
    for service, host, pid, stopped in procs:
        started = NOW - rng.uniform(3600, 7200)
        ts = NOW - 600 + rng.uniform(0, 15)
        while ts < NOW - stopped:
            hb: Event = {
                "id": f"hb-{pid}-{len(out)}",
                "ts": ts,
                "type": "heartbeat",
                "service": service,
                "session_id": None,
                "user_id": None,
                "user_type": None,
                "host": host,
                "pid": pid,
                "memory_rss_mb": round(rng.uniform(100, 900), 2),
                "cpu_percent": round(rng.uniform(0, 80), 1),
                "threads": rng.randint(4, 40),
                "queue_depth": rng.randint(0, 5),
                "dropped": len(out) // 10,
                "memory_available_mb": round(rng.uniform(1000, 8000), 1),
                "started_at": started,
            }
            if host != "web-3":
                hb["connections"] = rng.randint(0, 30)
            out.append(hb)
            ts += 15
    return out


def _session(
    rng: random.Random, sid: str, service: str, user: str, user_type: str | None, start: float
) -> list[Event]:
    out: list[Event] = []
    clock = [start]

    def add(event_type: str, **fields: Any) -> None:
        ts = min(clock[0], NOW - 0.5)
        base = {"id": f"{sid}-{len(out)}", "ts": ts, "type": event_type, "service": service}
        out.append({**base, "session_id": sid, "user_id": user, "user_type": user_type, **fields})
        clock[0] += rng.uniform(0.5, 90)

    channel = "websocket" if rng.random() < 0.7 else "http"
    add("session_started", channel=channel)
    if channel == "websocket":
        add("connection", action="connect", channel=channel)
    for turn in range(rng.randint(1, 6)):
        _turn(rng, add, f"{sid}-r{turn}")
        if channel == "websocket" and rng.random() < 0.08:
            add("connection", action="disconnect", channel=channel)
            add("connection", action="reconnect", channel=channel)
    if rng.random() < 0.2:
        add("message", sender_type=rng.choice(("agent", "user", "system")))
    if rng.random() < 0.35:
        add("feedback", rating=rng.randint(1, 5))
    if rng.random() < 0.2:
        add("feedback", thumbs=rng.choice(("up", "up", "down")))
    if rng.random() < 0.1:
        add("escalation", reason="asked for a human")
    if (clock[0] < NOW - 2400 and rng.random() < 0.85) or rng.random() < 0.25:
        if channel == "websocket" and rng.random() < 0.8:
            add("connection", action="disconnect", channel=channel)
        add("session_ended", channel=channel if rng.random() < 0.5 else None)
    return [e for e in out if e["ts"] < NOW]


def _turn(rng: random.Random, add: Callable[..., None], run: str) -> None:
    model = rng.choice((*MODELS, MODELS[0], MODELS[0], None))
    cached = rng.random() < 0.3
    rag_used = rng.random() < 0.6
    if rag_used:
        results = 0 if rng.random() < 0.15 else rng.randint(1, 5)
        on_edge = rng.random() < 0.1
        similarity = (
            rng.choice((0.35, 0.55, 0.6, 0.65, 0.7))
            if on_edge
            else round(rng.uniform(0.2, 0.95), 3)
        )
        add(
            "rag_search",
            run_id=run,
            similarity=None if results == 0 and rng.random() < 0.5 else similarity,
            results=results,
            search_time_ms=round(rng.lognormvariate(math.log(40), 0.6), 2),
            cache_hit=rng.random() < 0.25,
        )
        if rng.random() < 0.5:
            embedding: Event = {
                "run_id": run,
                "kind": "embedding",
                "model": rng.choice(("text-embedding-3-small", "acme-embed")),
                "input_tokens": rng.randint(5, 300),
                "latency_ms": round(rng.lognormvariate(math.log(60), 0.5), 2),
                "success": rng.random() < 0.95,
            }
            if not embedding["success"]:
                embedding["error_type"] = "RateLimitError"
            add("llm_call", **embedding)
    if rng.random() < 0.4:
        add("cache_lookup", run_id=run, hit=cached, kind=rng.choice(("response", "embedding")))
    if model is not None and not cached:
        call: Event = {
            "run_id": run,
            "model": model,
            "input_tokens": rng.randint(50, 2000),
            "output_tokens": rng.randint(10, 600),
            "latency_ms": round(rng.lognormvariate(math.log(700), 0.7), 2),
            "success": rng.random() < 0.96,
        }
        if not call["success"]:
            call["error_type"] = rng.choice(("APIError", "Timeout"))
        if rng.random() < 0.15:
            call["cost_usd"] = round(rng.uniform(0.0001, 0.01), 6)
        add("llm_call", **call)
    success = rng.random() < 0.92
    turn: Event = {
        "run_id": run,
        "sender_type": "user",
        "response_time_ms": round(rng.lognormvariate(math.log(900), 0.9), 2),
        "success": success,
        "rag_used": rag_used,
        "rag_found": rag_used and rng.random() < 0.8,
    }
    if rng.random() < 0.8:  # the rest do not record cache use: unknown, not a miss
        turn["cached"] = cached
    if not success and (error := rng.choice(ERRORS)) is not None:
        turn["error_type"] = error
    # as the SDK's turn scope says them: how many of its own events the turn recorded
    turn["llm_calls"] = int(model is not None and not cached)
    turn["rag_searches"] = int(rag_used)
    if success and run.endswith("r4"):
        turn["status_code"] = 404  # a client error on a successful turn
    if model is not None:
        turn["model"] = model
    if rng.random() < 0.7:
        turn["tokens"] = rng.randint(20, 3000)
    if rng.random() < 0.8:
        turn["topic"] = rng.choice(TOPICS)
    add("turn", **turn)


def as_payload(events: Iterable[Event]) -> list[Event]:
    """The events as the ingest API takes them (ISO timestamps)."""
    return [{**e, "ts": datetime.fromtimestamp(e["ts"], UTC).isoformat()} for e in events]


# ---- the oracle ---------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    start: int
    end: int
    service: str | None = None
    model: str | None = None
    user_type: str | None = None
    channel: str | None = None


def effective_range(start: int, end: int, now: float = NOW) -> tuple[int, int]:
    """The documented read range: past the minute retention, whole hours (rounded out)."""
    cutoff = int(now - MINUTE_RETENTION) // HOUR * HOUR
    if start < cutoff:
        start = start // HOUR * HOUR
        if end <= cutoff:
            end = -(-end // HOUR) * HOUR
    return start, end


def _pct(num: float, den: float) -> float | None:
    return None if den <= 0 else num / den * 100


def _div(num: float, den: float) -> float | None:
    return None if den <= 0 else num / den


def exact_quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


def cost(e: Event) -> float | None:
    if "cost_usd" in e:
        return float(e["cost_usd"])
    price = PRICES.get(e["model"])
    if price is None:
        return None
    return (e["input_tokens"] * price[0] + e.get("output_tokens", 0) * price[1]) / 1_000_000


def _chat(calls: list[Event]) -> list[Event]:
    return [c for c in calls if c.get("kind", "chat") == "chat"]


def _chat_run(e: Event) -> str | None:
    """The run of a chat call (an embedding call does not account for a turn's tokens)."""
    if e["type"] == "llm_call" and e.get("kind", "chat") == "chat":
        return str(e["run_id"])
    return None


def _embeddings(calls: list[Event]) -> list[Event]:
    return [c for c in calls if c.get("kind") == "embedding"]


class Oracle:
    """Every metric, from the raw events, by the definitions in docs/metrics.md."""

    def __init__(self, events: list[Event], now: float = NOW) -> None:
        self.events = events
        self.now = now
        self.sessions = _sessions(events)

    def _pick(
        self, q: Query, kinds: tuple[str, ...], *, model: bool = False, channel: bool = False
    ) -> list[Event]:
        lo, hi = effective_range(q.start, q.end, self.now)
        out = []
        for e in self.events:
            if e["type"] not in kinds or not lo <= e["ts"] < hi:
                continue
            if q.service is not None and e["service"] != q.service:
                continue
            if q.user_type is not None and (e["user_type"] or "") != q.user_type:
                continue
            if model and q.model is not None and e.get("model", "") != q.model:
                continue
            if channel and q.channel is not None and e.get("channel") != q.channel:
                continue
            out.append(e)
        return out

    def _session_firsts(self, q: Query, key: str) -> int:
        """Sessions whose first ``key`` event (escalation, reconnect) falls in the range."""
        lo, hi = effective_range(q.start, q.end, self.now)
        n = 0
        for s in self.sessions.values():
            ts = s[key]
            if ts is None or not lo <= ts < hi:
                continue
            if q.service is not None and s["service"] != q.service:
                continue
            if q.user_type is not None and s["user_type"] != q.user_type:
                continue
            if q.channel is not None and s["channel"] != q.channel:
                continue
            n += 1
        return n

    def open_sessions(self, q: Query) -> tuple[int, int]:
        count = connections = 0
        for s in self.sessions.values():
            if s["ended"] or s["last_seen"] < self.now - IDLE_TIMEOUT:
                continue
            if q.service is not None and s["service"] != q.service:
                continue
            if q.user_type is not None and s["user_type"] != q.user_type:
                continue
            if q.channel is not None and s["channel"] != q.channel:
                continue
            count += 1
            connections += max(s["open"], 0)
        return count, connections

    def values(self, q: Query) -> dict[str, float | None]:
        """Every metric of the catalogue (the process ones excepted)."""
        out: dict[str, float | None] = {}
        out.update(self._turn_metrics(q))
        out.update(self._session_metrics(q))
        out.update(self._plain_metrics(q))
        out.update(self._llm_metrics(q))
        out.update(self._month_metrics(q))
        out.update(self._app_metrics(q))
        out.update(self._user_metrics(q))
        return out

    def _user_metrics(self, q: Query) -> dict[str, float | None]:
        """Chat model calls that carry a user, over the hours overlapping the window."""
        lo = q.start // HOUR * HOUR
        calls = [
            e
            for e in self.events
            if e["type"] == "llm_call"
            and e.get("kind", "chat") == "chat"
            and e.get("user_id") is not None
            and lo <= e["ts"] // HOUR * HOUR < q.end
            and (q.service is None or e["service"] == q.service)
        ]
        return {
            "user_llm_calls": len(calls),
            "user_llm_tokens": sum(e["input_tokens"] + e.get("output_tokens", 0) for e in calls),
            "user_llm_cost_usd": sum(cost(e) or 0.0 for e in calls),
        }

    def _app_metrics(self, q: Query) -> dict[str, float | None]:
        """The app's processes (latest heartbeat per host and pid, live within 45 s) and
        the service's last activity (the start of its last minute with any event, or its
        latest heartbeat of the last 15 minutes when later)."""
        latest: dict[tuple[str, str, int], Event] = {}
        last = None
        for e in self.events:
            if q.service is not None and e["service"] != q.service:
                continue
            if e["ts"] >= q.start // HOUR * HOUR or (
                e["type"] == "heartbeat" and e["ts"] >= self.now - 900
            ):
                exact = datetime.fromtimestamp(e["ts"], UTC).timestamp()  # as ingested
                seen = exact if e["type"] == "heartbeat" else e["ts"] // MINUTE * MINUTE
                last = seen if last is None else max(last, seen)
            if e["type"] == "heartbeat" and self.now - 45 <= e["ts"] <= self.now:
                latest[(e["service"], e["host"], e["pid"])] = e
        live = list(latest.values())

        def total(key: str) -> float | None:
            known = [e[key] for e in live if e.get(key) is not None]
            return float(sum(known)) if known else None

        hosts = {e["host"]: e["memory_available_mb"] for e in sorted(live, key=lambda e: e["ts"])}
        return {
            "instances": len(live),
            "cpu_percent": total("cpu_percent"),
            "memory_usage_mb": total("memory_rss_mb"),
            "memory_available_mb": float(sum(hosts.values())) if hosts else None,
            "threads": total("threads"),
            "open_connections": total("connections"),
            "sdk_queue_depth": total("queue_depth"),
            "sdk_dropped_events": total("dropped"),
            "uptime_seconds": self.now - min(e["started_at"] for e in live) if live else None,
            "seconds_since_last_event": None if last is None else max(self.now - last, 0.0),
        }

    def _turn_metrics(self, q: Query) -> dict[str, float | None]:
        turns = self._pick(q, ("turn",), model=True)
        n = len(turns)
        failed = sum(not t["success"] for t in turns)
        cached = sum(t.get("cached") is True for t in turns)
        recorded = sum("cached" in t for t in turns)
        rts = [t["response_time_ms"] for t in turns]
        tokens = sum(t.get("tokens", 0) for t in turns)
        used = sum(t["rag_used"] or t["rag_found"] for t in turns)
        found = sum(t["rag_found"] for t in turns)
        return {
            "total_requests": n,
            "successful_requests": n - failed,
            "failed_requests": failed,
            "error_rate": _pct(failed, n),
            "success_rate": _pct(n - failed, n),
            "avg_response_time_ms": _div(sum(rts), n),
            "p50_response_time_ms": exact_quantile(rts, 0.50),
            "p95_response_time_ms": exact_quantile(rts, 0.95),
            "p99_response_time_ms": exact_quantile(rts, 0.99),
            "cache_recorded_requests": recorded,
            "cache_hit_rate": _pct(cached, recorded),
            "cache_hits": cached,
            "cache_misses": recorded - cached,
            "llm_tokens_used": tokens,
            "tokens_per_request": _div(tokens, n),
            "rag_queries": used,
            "rag_no_results": used - found,
            "client_errors": sum(t["success"] and t.get("status_code") == 404 for t in turns),
            "rag_success_rate": _pct(found, used),
        }

    def _session_metrics(self, q: Query) -> dict[str, float | None]:
        started = len(self._pick(q, ("session_started",), channel=True))
        connections = Counter(e["action"] for e in self._pick(q, ("connection",), channel=True))
        active, open_ws = self.open_sessions(q)
        return {
            "sessions": started,
            "active_sessions": active,
            "active_sessions_usage": active / MAX_SESSIONS * 100,
            "websocket_connections": open_ws,
            "websocket_usage": open_ws / MAX_CONNECTIONS * 100,
            "reconnection_rate": _pct(self._session_firsts(q, "reconnected_at"), started),
            "escalation_rate": _pct(self._session_firsts(q, "escalated_at"), started),
            "ws_connects": connections["connect"],
            "ws_reconnects": connections["reconnect"],
        }

    def _plain_metrics(self, q: Query) -> dict[str, float | None]:
        turns = self._pick(q, ("turn",))
        messages = 2 * len(turns) + len(self._pick(q, ("message",)))
        started = len(self._pick(q, ("session_started",)))
        feedback = self._pick(q, ("feedback",))
        ratings = [f["rating"] for f in feedback if "rating" in f]
        thumbs = [f["thumbs"] for f in feedback if "thumbs" in f]
        lookups = self._pick(q, ("cache_lookup",))
        searches = self._pick(q, ("rag_search",))
        # a retrieving turn without a search of its own counts as one search
        searched = {s["run_id"] for s in self._pick(Query(0, 2**40), ("rag_search",))}
        bare = [
            t for t in turns if (t["rag_used"] or t["rag_found"]) and t["run_id"] not in searched
        ]
        scored = [s["similarity"] for s in searches if s["results"] and s["similarity"] is not None]
        times = [s["search_time_ms"] for s in searches]
        rag_hits = sum(s["cache_hit"] for s in searches)
        return {
            "messages": messages,
            "messages_per_session": _div(messages, started),
            "escalations": len(self._pick(q, ("escalation",))),
            "ratings": len(ratings),
            "satisfaction": _div(sum(ratings), len(ratings)),
            "thumbs_up_share": _pct(thumbs.count("up"), len(thumbs)),
            "cache_lookup_hit_rate": _pct(sum(c["hit"] for c in lookups), len(lookups)),
            "rag_searches": len(searches) + len(bare),
            "rag_no_results_rate": _pct(
                sum(s["results"] == 0 for s in searches) + sum(not t["rag_found"] for t in bare),
                len(searches) + len(bare),
            ),
            "rag_avg_similarity": _div(sum(scored), len(scored)),
            "rag_avg_search_time_ms": _div(sum(times), len(times)),
            "rag_p95_search_time_ms": exact_quantile(times, 0.95),
            "rag_cache_hits": rag_hits,
            "rag_cache_misses": len(searches) + len(bare) - rag_hits,
            "rag_cache_hit_rate": _pct(rag_hits, len(searches) + len(bare)),
        }

    def _llm_metrics(self, q: Query) -> dict[str, float | None]:
        calls = _chat(self._pick(q, ("llm_call",), model=True))
        every = _chat(self._pick(q, ("llm_call",)))
        embeddings = _embeddings(self._pick(q, ("llm_call",), model=True))
        latencies = [c["latency_ms"] for c in calls]
        inp = sum(c["input_tokens"] for c in calls)
        outp = sum(c["output_tokens"] for c in calls)
        own = self._own_tokens(q)
        return {
            "llm_calls": len(calls),
            "llm_failed_calls": sum(not c["success"] for c in calls),
            "llm_error_rate": _pct(sum(not c["success"] for c in calls), len(calls)),
            "llm_input_tokens": inp,
            "llm_output_tokens": outp,
            "llm_tokens": inp + outp + own,
            "llm_avg_latency_ms": _div(sum(latencies), len(latencies)),
            "llm_p50_latency_ms": exact_quantile(latencies, 0.50),
            "llm_p95_latency_ms": exact_quantile(latencies, 0.95),
            "llm_p99_latency_ms": exact_quantile(latencies, 0.99),
            "llm_cost_usd": sum(c for c in map(cost, calls) if c is not None),
            "llm_call_share": _pct(len(calls), len(every)),
            "embedding_calls": len(embeddings),
            "embedding_failed_calls": sum(not c["success"] for c in embeddings),
            "embedding_tokens": sum(c["input_tokens"] for c in embeddings),
            "embedding_cost_usd": sum(c for c in map(cost, embeddings) if c is not None),
        }

    def _month_metrics(self, q: Query) -> dict[str, float | None]:
        today = datetime.fromtimestamp(self.now, UTC)
        first = int(datetime(today.year, today.month, 1, tzinfo=UTC).timestamp())
        month = Query(
            first, int(self.now // MINUTE) * MINUTE + MINUTE, q.service, q.model, q.user_type
        )
        every = self._pick(month, ("llm_call",), model=True)
        calls = _chat(every)
        spent = sum(c for c in map(cost, every) if c is not None)  # embeddings cost money too
        tokens = sum(c["input_tokens"] + c["output_tokens"] for c in calls) + self._own_tokens(
            month
        )
        return {
            "month_tokens": tokens,
            "month_cost_usd": spent,
            "budget_usage": spent / BUDGET_USD * 100,
            "token_budget_usage": tokens / TOKEN_BUDGET * 100,
        }

    def _own_tokens(self, q: Query) -> int:
        """Tokens of turns with no LLM call of their run: the LLM section counts them."""
        called = {run for c in self.events if (run := _chat_run(c)) is not None}
        turns = self._pick(q, ("turn",), model=True)
        return sum(t.get("tokens", 0) for t in turns if t["run_id"] not in called)

    # breakdowns

    def breakdowns(self, q: Query) -> dict[str, dict[str, float]]:
        turns = self._pick(q, ("turn",), model=True)
        plain_turns = self._pick(q, ("turn",))
        feedback = self._pick(q, ("feedback",))
        calls = Counter(c["model"] for c in _chat(self._pick(q, ("llm_call",))))
        searches = self._pick(q, ("rag_search",))
        senders = Counter(t["sender_type"] for t in plain_turns)
        senders["assistant"] += len(plain_turns)
        senders.update(m["sender_type"] for m in self._pick(q, ("message",)))
        total_calls = sum(calls.values())
        return {
            "rating_distribution": {
                str(k): float(sum(f.get("rating") == k for f in feedback)) for k in range(1, 6)
            },
            "top_topics": _top(Counter(t["topic"] for t in turns if "topic" in t), 10),
            "errors_by_type": _top(
                Counter(t.get("error_type", "unknown") for t in turns if not t["success"]), 20
            ),
            "model_distribution": {m: n / total_calls * 100 for m, n in calls.items()},
            "rag_similarity_distribution": dict(
                Counter(
                    _edge(s["similarity"]) for s in searches if s["similarity"] is not None
                ).items()
            ),
            "messages_by_sender": {k: float(v) for k, v in senders.items() if v},
            "connections_by_action": {
                k: float(v)
                for k, v in Counter(
                    e["action"] for e in self._pick(q, ("connection",), channel=True)
                ).items()
            },
            "cache_lookups_by_kind": {
                k: float(v)
                for k, v in Counter(e["kind"] for e in self._pick(q, ("cache_lookup",))).items()
            },
            "top_users": self.top_users(q),
        }

    def top_users(self, q: Query) -> dict[str, float]:
        """Users by messages they sent (turns and user messages), over whole UTC days."""
        lo, hi = q.start // DAY * DAY, q.end
        sent: Counter[str] = Counter()
        for e in self.events:
            if not lo <= e["ts"] // DAY * DAY < hi:
                continue
            if q.service is not None and e["service"] != q.service:
                continue
            if e["type"] == "turn" or (e["type"] == "message" and e["sender_type"] == "user"):
                sent[e["user_id"]] += 1
        ranked = sorted(sent.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        return {u: float(n) for u, n in ranked}


def _edge(similarity: float) -> str:
    """The lower edge of the 0.05-wide bin holding the similarity (0.35 is in [0.35, 0.40))."""
    hundredths = round(similarity * 1000)  # similarities have at most three decimals
    return f"{hundredths // 50 * 50 / 1000:.2f}"


def _top(counts: Counter[str], limit: int) -> dict[str, float]:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return {k: float(v) for k, v in ranked}


def _sessions(events: list[Event]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for e in events:
        if e["session_id"] is None:
            continue
        s = out.setdefault(
            e["session_id"],
            {
                "service": e["service"],
                "user_type": e["user_type"] or "",
                "channel": None,
                "ended": False,
                "last_seen": 0.0,
                "open": 0,
                "escalated_at": None,
                "reconnected_at": None,
            },
        )
        s["last_seen"] = max(s["last_seen"], e["ts"])
        kind = e["type"]
        if kind == "session_started":
            s["channel"] = e["channel"]
        elif kind == "session_ended":
            s["ended"] = True
        elif kind == "connection":
            s["open"] += -1 if e["action"] == "disconnect" else 1
            if e["action"] == "reconnect" and s["reconnected_at"] is None:
                s["reconnected_at"] = e["ts"]
        elif kind == "escalation" and s["escalated_at"] is None:
            s["escalated_at"] = e["ts"]
    return out
