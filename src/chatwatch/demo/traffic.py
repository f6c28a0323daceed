"""Plausible chat-assistant traffic, as the SDK calls an assistant would make.

Pure: a ``random.Random`` and a clock in, :class:`Call` objects out, so tests drive it
with a fake clock and a fixed seed. Sessions arrive as a Poisson process following a
daily curve (quiet nights, busy afternoons, UTC) around ``rate`` turns per second; each
session is planned whole when it arrives and its calls come out when their time comes.

The mix follows the two guides: customers, providers and anonymous visitors over
WebSocket; topics; response-cache hits about a third of the time; RAG searches with
similarity around 0.6-0.7, some finding nothing; three models at 60/30/10 % with
lognormal latencies; a few per cent of failed calls; ratings mostly 4-5; about 5 % of
sessions escalated to a human and 5-8 % reconnecting.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MODELS", "TOPICS", "Call", "Traffic", "daily_factor", "to_event"]

# model: (share of calls, median latency ms, provider)
MODELS: dict[str, tuple[float, float, str]] = {
    "llama-3.1-8b-instant": (0.60, 580.0, "groq"),
    "llama-3.3-70b-versatile": (0.30, 1270.0, "groq"),
    "glm-4": (0.10, 1000.0, "zhipu"),
}
TOPICS: dict[str, float] = {
    "scheduling": 0.24,
    "billing": 0.18,
    "technical issue": 0.15,
    "pricing": 0.13,
    "cancellation": 0.10,
    "account": 0.08,
    "refund": 0.07,
    "onboarding": 0.05,
}
USER_TYPES: dict[str, float] = {"customer": 0.55, "provider": 0.25, "anonymous": 0.20}
LLM_ERRORS: dict[str, float] = {
    "TimeoutError": 0.5,
    "RateLimitError": 0.3,
    "APIConnectionError": 0.2,
}
ESCALATION_REASONS = ("user_request", "repeated_failure", "complex_issue", "complaint")
MEAN_TURNS = 5.0

_METHOD_TYPE = {
    "record_turn": "turn",
    "connect": "connection",
    "disconnect": "connection",
    "reconnect": "connection",
}


@dataclass(frozen=True, order=True)
class Call:
    """One SDK call: ``getattr(client, method)(**kwargs)`` at time ``at``."""

    at: float
    seq: int
    method: str = field(compare=False)
    kwargs: dict[str, Any] = field(compare=False)


def daily_factor(ts: float) -> float:
    """Traffic relative to the daily mean: lowest around 03:00 UTC, highest at 15:00."""
    hour = (ts % 86400) / 3600
    return 1.0 + 0.6 * math.sin((hour - 9.0) / 24 * 2 * math.pi)


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return round(rng.lognormvariate(math.log(median), sigma), 1)


class _Session:
    """Plans one session's calls from its start time."""

    def __init__(self, traffic: Traffic, start: float) -> None:
        self.t = traffic
        self.rng = traffic.rng
        self.now = start
        self.calls: list[tuple[float, str, dict[str, Any]]] = []
        self.user_type = _pick(self.rng, USER_TYPES)
        self.who: dict[str, Any] = {
            "session_id": traffic.new_id("s"),
            "user_type": self.user_type,
        }
        if self.user_type != "anonymous":
            pool = 400 if self.user_type == "customer" else 60
            self.who["user_id"] = f"{self.user_type}-{self.rng.randrange(pool):04d}"
        self.websocket = self.rng.random() < 0.9

    def add(self, method: str, **kwargs: Any) -> None:
        self.calls.append((self.now, method, {**kwargs, **self.who}))

    def wait(self, seconds: float) -> None:
        self.now += seconds

    def plan(self) -> list[tuple[float, str, dict[str, Any]]]:
        rng = self.rng
        channel = "websocket" if self.websocket else "http"
        self.add("session_started", channel=channel)
        if self.websocket:
            self.add("connect")
        turns = min(1 + int(rng.expovariate(1 / (MEAN_TURNS - 1))), 25)
        reconnect_at = rng.randrange(turns) if self.websocket and rng.random() < 0.065 else -1
        escalate_at = rng.randrange(turns) if rng.random() < 0.05 else -1
        failures = 0
        reason = "resolved"
        for i in range(turns):
            self.wait(min(rng.lognormvariate(math.log(14), 0.7), 120.0) + (2.0 if i else 0.5))
            if i == reconnect_at:
                self.add("disconnect")
                self.wait(rng.uniform(1.0, 8.0))
                self.add("reconnect")
            failures += 0 if self.turn() else 1
            if i == escalate_at or (failures >= 2 and rng.random() < 0.5):
                self.escalate("repeated_failure" if failures >= 2 else None)
                reason = "escalated"
                break
        self.wait(rng.uniform(2.0, 30.0))
        if self.websocket:
            self.add("disconnect")
        if reason != "escalated" and rng.random() < 0.15:
            reason = "timeout"
        self.add("session_ended", reason=reason)
        return self.calls

    def turn(self) -> bool:
        """One answered message; False when it failed."""
        rng = self.rng
        run_id = self.t.new_id("r")
        topic = _pick(rng, TOPICS)
        started = self.now
        self.wait(rng.uniform(0.002, 0.01))
        if rng.random() < 0.33:
            self.add("cache_lookup", hit=True, kind="response", run_id=run_id)
            self.wait(rng.uniform(0.03, 0.15))
            rt = round((self.now - started) * 1000, 1)
            self.add("record_turn", response_time_ms=rt, run_id=run_id, cached=True, topic=topic)
            self.feedback(run_id, success=True)
            return True
        self.add("cache_lookup", hit=False, kind="response", run_id=run_id)
        rag_used = rag_found = False
        if rng.random() < 0.85:
            rag_used = True
            rag_found = self.rag(run_id)
        model, ok, error, tokens = self.llm(run_id, rag_found)
        self.wait(rng.uniform(0.01, 0.06))
        turn: dict[str, Any] = {
            "response_time_ms": round((self.now - started) * 1000, 1),
            "run_id": run_id,
            "topic": topic,
            "model": model,
            "rag_used": rag_used,
            "rag_found": rag_found,
        }
        if ok:
            turn["tokens"] = tokens
        else:
            turn.update(success=False, error_type=error)
        self.add("record_turn", **turn)
        self.feedback(run_id, success=ok)
        return ok

    def rag(self, run_id: str) -> bool:
        rng = self.rng
        cache_hit = rng.random() < 0.38
        took = _lognormal(rng, 9.0 if cache_hit else 115.0, 0.35)
        self.wait(took / 1000)
        if rng.random() < 0.07:
            self.add("rag_search", results=0, search_time_ms=took, run_id=run_id)
            return False
        similarity = round(min(max(rng.gauss(0.66, 0.08), 0.2), 0.97), 3)
        top = round(min(similarity + abs(rng.gauss(0.06, 0.03)), 0.99), 3)
        self.add(
            "rag_search",
            similarity=similarity,
            top_similarity=top,
            results=rng.randint(1, 5),
            search_time_ms=took,
            cache_hit=cache_hit,
            run_id=run_id,
        )
        return True

    def llm(self, run_id: str, context: bool) -> tuple[str, bool, str | None, int]:
        rng = self.rng
        model = rng.choices(list(MODELS), [m[0] for m in MODELS.values()])[0]
        _, median, provider = MODELS[model]
        call: dict[str, Any] = {"model": model, "provider": provider, "run_id": run_id}
        error = _pick(rng, LLM_ERRORS) if rng.random() < 0.045 else None
        if error is None:
            call["input_tokens"] = rng.randint(500, 1400) if context else rng.randint(120, 450)
            call["output_tokens"] = rng.randint(60, 420)
            call["latency_ms"] = _lognormal(rng, median, 0.22)
        else:
            call.update(success=False, error_type=error)
            call["latency_ms"] = (
                round(rng.uniform(8000, 10000), 1)
                if error == "TimeoutError"
                else _lognormal(rng, 90.0, 0.5)
            )
        self.wait(call["latency_ms"] / 1000)
        self.add("llm_call", **call)
        tokens = call.get("input_tokens", 0) + call.get("output_tokens", 0)
        return model, error is None, error, tokens

    def feedback(self, run_id: str, *, success: bool) -> None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.22:
            weights = [0.04, 0.05, 0.11, 0.30, 0.50] if success else [0.30, 0.30, 0.20, 0.12, 0.08]
            rating = rng.choices(range(1, 6), weights)[0]
            self.wait(rng.uniform(1.0, 6.0))
            self.add("feedback", rating=rating, run_id=run_id)
        elif roll < 0.30:
            thumbs = "up" if rng.random() < (0.85 if success else 0.25) else "down"
            self.wait(rng.uniform(0.5, 4.0))
            self.add("feedback", thumbs=thumbs, run_id=run_id)

    def escalate(self, reason: str | None) -> None:
        rng = self.rng
        self.wait(rng.uniform(0.5, 3.0))
        self.add("escalation", reason=reason or rng.choice(ESCALATION_REASONS))
        for _ in range(rng.randint(1, 4)):
            self.wait(rng.uniform(10.0, 60.0))
            self.add("message", sender_type="agent")
            if rng.random() < 0.8:
                self.wait(rng.uniform(5.0, 40.0))
                self.add("message", sender_type="user")


class Traffic:
    """Sessions arriving from ``start`` on; ``advance`` hands out the calls now due."""

    def __init__(
        self,
        rng: random.Random,
        clock: Callable[[], float],
        rate: float = 1.0,
        *,
        start: float | None = None,
        daily: bool = True,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rng = rng
        self.clock = clock
        self.rate = rate
        self.daily = daily
        self._tag = f"{rng.getrandbits(24):06x}"
        self._ids = itertools.count()
        self._seq = itertools.count()
        self._pending: list[Call] = []
        self._next = clock() if start is None else start
        self.sessions = 0

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{self._tag}{next(self._ids):08x}"

    def _session_rate(self, at: float) -> float:
        factor = daily_factor(at) if self.daily else 1.0
        return self.rate * factor / MEAN_TURNS

    def _arrive(self, until: float) -> None:
        while self._next <= until:
            for at, method, kwargs in _Session(self, self._next).plan():
                heapq.heappush(self._pending, Call(at, next(self._seq), method, kwargs))
            self.sessions += 1
            self._next += self.rng.expovariate(self._session_rate(self._next))

    def advance(self, until: float | None = None) -> list[Call]:
        """Every call due by ``until`` (default: the clock's now), in time order."""
        until = self.clock() if until is None else until
        self._arrive(until)
        due: list[Call] = []
        pending = self._pending
        while pending and pending[0].at <= until:
            due.append(heapq.heappop(pending))
        return due

    def run(self, until: float, step: float = 60.0) -> Iterator[list[Call]]:
        """``advance`` in steps of ``step`` seconds up to ``until``: fast history."""
        at = self._next
        while at < until:
            at = min(at + step, until)
            yield self.advance(at)

    @property
    def pending(self) -> int:
        return len(self._pending)


def to_event(call: Call, event_id: str, service: str = "default") -> dict[str, Any]:
    """The event the SDK would send for ``call``, stamped with the call's own time."""
    event: dict[str, Any] = {
        "type": _METHOD_TYPE.get(call.method, call.method),
        "id": event_id,
        "ts": call.at,
        "service": service,
    }
    if event["type"] == "connection":
        event["action"] = call.method
    event.update((k, v) for k, v in call.kwargs.items() if v is not None)
    return event
