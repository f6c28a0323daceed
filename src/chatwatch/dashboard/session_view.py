"""One session as a run view: its turns in order, each with the LLM calls, RAG searches
and cache lookups made inside it drawn as a waterfall (like LangSmith's trace view),
plus ratings, escalation and the connection log.

Events are stamped when they finish, so a span runs from ``ts - duration`` to ``ts``.
Only the stored fields are shown; no metric is computed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chatwatch.store import Store
from chatwatch.store.sessions_read import SessionRow, StoredEvent

__all__ = ["Span", "TurnView", "session_view"]

_CHILD = {"llm_call", "rag_search", "cache_lookup"}
_TIE_S = 0.005


@dataclass
class Span:
    kind: str  # llm_call, rag_search, cache_lookup
    label: str
    start: float
    end: float
    ok: bool
    details: list[tuple[str, str]]
    left: float = 0.0  # percent of the turn's span
    width: float = 0.0

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start) * 1000


@dataclass
class TurnView:
    number: int
    run_id: str
    start: float
    end: float
    event: StoredEvent | None
    spans: list[Span] = field(default_factory=list)
    feedback: list[StoredEvent] = field(default_factory=list)
    escalations: list[StoredEvent] = field(default_factory=list)

    @property
    def data(self) -> dict[str, Any]:
        return self.event.data if self.event else {}

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start) * 1000


def _ms(value: Any) -> str:
    return f"{float(value):,.0f} ms" if value is not None else "—"


def _span(e: StoredEvent) -> Span:
    d = e.data
    if e.type == "llm_call":
        tokens = f"{d.get('input_tokens', 0)} → {d.get('output_tokens', 0)} tokens"
        details = [("model", str(d.get("model"))), ("tokens", tokens)]
        if d.get("provider"):
            details.append(("provider", str(d["provider"])))
        if d.get("cost_usd") is not None:
            details.append(("cost", f"${float(d['cost_usd']):.5f}"))
        if d.get("error_type"):
            details.append(("error", str(d["error_type"])))
        took = float(d.get("latency_ms") or 0) / 1000
        return Span(
            "llm_call",
            str(d.get("model")),
            e.ts - took,
            e.ts,
            bool(d.get("success", True)),
            details,
        )
    if e.type == "rag_search":
        details = [("results", str(d.get("results", 0)))]
        for key in ("similarity", "top_similarity"):
            if d.get(key) is not None:
                details.append((key.replace("_", " "), f"{float(d[key]):.3f}"))
        if d.get("cache_hit"):
            details.append(("cache", "hit"))
        took = float(d.get("search_time_ms") or 0) / 1000
        ok = int(d.get("results") or 0) > 0
        return Span("rag_search", "retrieval", e.ts - took, e.ts, ok, details)
    hit = bool(d.get("hit"))
    label = f"{d.get('kind', 'cache')} cache {'hit' if hit else 'miss'}"
    return Span("cache_lookup", label, e.ts, e.ts, True, [])


def _layout(turn: TurnView) -> None:
    """Place each span as percentages of the turn's (widened if needed) time span."""
    if turn.spans:
        turn.start = min(turn.start, *(s.start for s in turn.spans))
        turn.end = max(turn.end, *(s.end for s in turn.spans))
    total = max(turn.end - turn.start, 1e-6)
    for s in turn.spans:
        s.left = min(max((s.start - turn.start) / total * 100, 0.0), 100.0)
        s.width = min(max((s.end - s.start) / total * 100, 0.6), 100.0 - s.left)
    # a cache lookup is a point at the start of what it decides: list it first on a tie
    # (start times rebuilt from durations differ from it by float noise)
    turn.spans.sort(key=lambda s: (s.start - (_TIE_S if s.kind == "cache_lookup" else 0), s.end))


def _turns(found: list[StoredEvent]) -> list[TurnView]:
    turns: dict[str, TurnView] = {}
    for e in found:
        if e.type == "turn":
            took = float(e.data.get("response_time_ms") or 0) / 1000
            run = e.run_id or e.id
            view = turns.get(run) or TurnView(0, run, e.ts - took, e.ts, e)
            view.event, view.start, view.end = e, e.ts - took, e.ts
            turns[run] = view
    for e in found:
        if e.run_id is None or e.type == "turn":
            continue
        # calls whose turn was never recorded still show
        owner = turns.setdefault(e.run_id, TurnView(0, e.run_id, e.ts, e.ts, None))
        if e.type in _CHILD:
            owner.spans.append(_span(e))
        elif e.type == "feedback":
            owner.feedback.append(e)
        elif e.type == "escalation":
            owner.escalations.append(e)
    ordered = sorted(turns.values(), key=lambda t: (t.start, t.run_id))
    for number, view in enumerate(ordered, 1):
        view.number = number
        _layout(view)
    return ordered


def session_view(store: Store, service: str, session_id: str) -> dict[str, Any] | None:
    row: SessionRow | None = store.session(service, session_id)
    found = store.session_events(service, session_id)
    if row is None and not found:
        return None
    turns = _turns(found)
    in_turn = {t.run_id for t in turns}
    log = [e for e in found if e.type not in _CHILD | {"turn"} and e.run_id not in in_turn]
    return {
        "row": row,
        "turns": turns,
        "log": log,
        "feedback": [e for e in found if e.type == "feedback"],
        "escalations": [e for e in found if e.type == "escalation"],
        "first": found[0].ts if found else None,
        "last": found[-1].ts if found else None,
        "events": len(found),
        "ms": _ms,
    }
