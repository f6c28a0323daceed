"""Turn a batch of new events into rollup increments: the only place events are counted.

Every increment is made per minute and then folded into hours and days, so a read of
any window is answered from a few buckets per resolution. The series below are what the
metric catalogue reads; each is a count ``n`` and a sum ``total`` per key.

Every row carries the event's ``service`` and ``user_type``; ``channel`` is set on the
session and connection series, empty elsewhere (``sessions_escalated`` and
``sessions_reconnected`` take the session's stored user_type and channel).

| series | one per | model | dim | total |
| --- | --- | --- | --- | --- |
| turns | turn | turn model | | response_time_ms |
| turns_failed | failed turn | turn model | error_type | |
| turns_client_error | successful turn answered 4xx | turn model | status code | |
| turn_llm_own, turn_rag_own | turn, no llm_call / rag_search of its own | turn model | | tokens |
| turn_rag_own_empty | such a RAG turn that found nothing | turn model | | |
| turns_cached | cached turn | turn model | | |
| turns_cache_known | turn that recorded ``cached`` (true or false) | turn model | | |
| turn_tokens | turn with tokens | turn model | | tokens |
| turns_rag_used / turns_rag_found | turn using RAG / finding something | turn model | | |
| topics | turn with a topic | turn model | topic | |
| rt_prom | turn | turn model | Prometheus ``le`` bucket | |
| messages | message (a turn is two) | | sender_type | |
| llm_calls | LLM call | model | | latency_ms |
| llm_failed | failed LLM call | model | error_type | |
| llm_input_tokens / llm_output_tokens | LLM call | model | | tokens |
| llm_cost | priced LLM call | model | | cost_usd |
| llm_unpriced | LLM call with no known price | model | | |
| llm_prom | LLM call | model | Prometheus ``le`` bucket | |
| emb_calls | embedding call (``kind="embedding"``, in no llm_ series) | model | | latency_ms |
| emb_failed | failed embedding call | model | error_type | |
| emb_tokens | embedding call | model | | input tokens |
| emb_cost / emb_unpriced | priced / unpriced embedding call | model | | cost_usd |
| rag_searches | RAG search | | | search_time_ms |
| rag_scored | search with results and a similarity | | | similarity |
| rag_no_results / rag_cache_hits | search | | | |
| rag_sim_bins | search with a similarity | | lower edge of a 0.05 bin | |
| cache_lookups | cache lookup | | kind | 1 per hit |
| connections | WebSocket connection event | | action | |
| sessions_ended | session end | | | |
| sessions_started / _escalated / _reconnected | session, the first time (by the writer) | | | |
| escalations | escalation | | | |
| ratings | rated feedback | | rating 1-5 | rating |
| thumbs | thumbs feedback | | up / down | |
| heartbeats | SDK heartbeat (the app's process) | | | |

Per user (``user_usage``, by hour, for rolling per-user limits): LLM calls, their tokens
and their priced cost, for calls that carry a ``user_id``.

The writer starts a session with its first event of any type, and counts a ``connect``
that follows another connection of its session as a reconnect.

Histograms (``rollup_hist``, bins of :mod:`chatwatch.sketch`, keyed by model like the
series they come with): ``turn_rt`` (turn model) and ``llm_latency`` in ms,
``rag_search_time`` in ms.
"""

from __future__ import annotations

import math
import os
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import msgspec

from chatwatch import sketch
from chatwatch.events import (
    CacheLookup,
    Connection,
    Escalation,
    Event,
    Feedback,
    Heartbeat,
    LLMCall,
    Message,
    RAGSearch,
    SessionEnded,
    SessionStarted,
    Turn,
)
from chatwatch.events_fast import FastEvent
from chatwatch.pricing import cost_usd, price_for
from chatwatch.sketch import bin_of

__all__ = [
    "DAY",
    "HOUR",
    "MINUTE",
    "PROM_BUCKETS",
    "RESOLUTIONS",
    "SESSION_FIELDS",
    "Delta",
    "SessionDelta",
    "add_cells",
    "add_counts",
    "compute_delta",
    "merge_sessions",
    "priced_cost",
    "prom_bucket",
    "python_delta",
    "rollup_core",
    "session_values",
]

MINUTE, HOUR, DAY = 60, 3600, 86400
RESOLUTIONS = (MINUTE, HOUR, DAY)
PROM_BUCKETS: tuple[float, ...] = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0)
_PROM_LABELS = (*tuple(repr(b) for b in PROM_BUCKETS), "+Inf")

# (bucket, service, series, model, dim, user_type, channel)
CountKey = tuple[int, str, str, str, str, str, str]
# (bucket, service, series, model, user_type, channel, bin)
HistKey = tuple[int, str, str, str, str, str, int]


def prom_bucket(value_ms: float) -> str:
    """The ``le`` label of the smallest guide-000 bucket holding the value."""
    return _PROM_LABELS[bisect_left(PROM_BUCKETS, value_ms / 1000.0)]


@dataclass
class SessionDelta:
    service: str
    session_id: str
    user_id: str | None = None
    user_type: str | None = None
    channel: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    last_seen: float = 0.0
    turns: int = 0
    errors: int = 0
    messages: int = 0
    reconnects: int = 0
    first_reconnect: float | None = None
    open_connections: int = 0
    escalated_at: float | None = None
    rating_sum: int = 0
    rating_n: int = 0
    first_seen: float | None = None
    # (ts, user_type, channel) of each "connect": the writer tells a reconnect landing
    # on another process from a first connect by the connections already stored
    connects: tuple[tuple[float, str, str], ...] = ()
    first_connect_at: float | None = None

    @classmethod
    def first(
        cls, service: str, session_id: str, user_id: str | None, user_type: str | None, ts: float
    ) -> SessionDelta:
        """A session's increments from its first event in a batch. Ingest makes one per
        two or three events, so only these fields are set: the others read their
        defaults from the class until they change."""
        s = object.__new__(cls)
        s.service, s.session_id, s.user_id, s.user_type = service, session_id, user_id, user_type
        s.last_seen = s.first_seen = ts
        return s


SESSION_FIELDS = tuple(SessionDelta.__dataclass_fields__)
# a session's increments as a tuple in field order (SessionDelta(*values) makes it again)
session_values: Callable[[SessionDelta], tuple[Any, ...]] = attrgetter(*SESSION_FIELDS)


def _least(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def merge_sessions(into: dict[tuple[str, str], SessionDelta], more: Iterable[SessionDelta]) -> None:
    """Fold session increments together the way the store's upsert merges them into a
    stored row (first labels kept, earliest start, latest end, counters added).

    The first increment seen for a session is adopted, not copied, and later ones are
    added to it: the deltas given are consumed."""
    for s in more:
        key = (s.service, s.session_id)
        t = into.get(key)
        if t is None:
            into[key] = s
            continue
        # the same as assigning each merged value, but a field is written only when the
        # increment changes it (most are at their defaults): the group writer and the
        # journal fold merge every session of every batch
        if not t.user_id:
            t.user_id = s.user_id
        if not t.user_type:
            t.user_type = s.user_type
        if not t.channel:
            t.channel = s.channel
        if s.started_at is not None and (t.started_at is None or s.started_at < t.started_at):
            t.started_at = s.started_at
        if t.ended_at is None or (s.ended_at is not None and s.ended_at > t.ended_at):
            t.ended_at = s.ended_at
        elif s.ended_at is None and t.ended_at < 0.0:  # max(ended_at, 0.0), as before
            t.ended_at = 0.0
        if s.last_seen > t.last_seen:
            t.last_seen = s.last_seen
        if s.turns:
            t.turns += s.turns
        if s.errors:
            t.errors += s.errors
        if s.messages:
            t.messages += s.messages
        if s.reconnects:
            t.reconnects += s.reconnects
        if s.first_reconnect is not None:
            t.first_reconnect = _least(t.first_reconnect, s.first_reconnect)
        if s.open_connections:
            t.open_connections += s.open_connections
        if s.escalated_at is not None:
            t.escalated_at = _least(t.escalated_at, s.escalated_at)
        if s.rating_n:
            t.rating_sum += s.rating_sum
            t.rating_n += s.rating_n
        if s.first_seen is not None and (t.first_seen is None or s.first_seen < t.first_seen):
            t.first_seen = s.first_seen
        if s.connects:
            t.connects = (*t.connects, *s.connects)
        if s.first_connect_at is not None:
            t.first_connect_at = _least(t.first_connect_at, s.first_connect_at)


def add_cells(into: dict[Any, list[float]], cells: dict[Any, list[float]]) -> None:
    """Add ``[n, total]`` cells key by key (rollup increments, rollup reads)."""
    for key, (n, total) in cells.items():
        cell = into.get(key)
        if cell is None:
            into[key] = [n, total]
        else:
            cell[0] += n
            cell[1] += total


def add_cells3(into: dict[Any, list[float]], cells: dict[Any, list[float]]) -> None:
    """Add per-user usage cells (calls, tokens, cost) key by key."""
    for key, (calls, tokens, cost) in cells.items():
        cell = into.get(key)
        if cell is None:
            into[key] = [calls, tokens, cost]
        else:
            cell[0] += calls
            cell[1] += tokens
            cell[2] += cost


def add_counts(into: dict[Any, int], counts: dict[Any, int]) -> None:
    """Add integer counts key by key (histogram bins, user messages)."""
    for key, n in counts.items():
        into[key] = into.get(key, 0) + n


def _add(counts: dict[CountKey, list[float]], key: CountKey, total: float = 0.0) -> None:
    cell = counts.get(key)
    if cell is None:
        counts[key] = [1, total]
    else:
        cell[0] += 1
        cell[1] += total


@dataclass
class Delta:
    counts: dict[CountKey, list[float]] = field(default_factory=dict)
    hist: dict[HistKey, int] = field(default_factory=dict)
    sessions: dict[tuple[str, str], SessionDelta] = field(default_factory=dict)
    users: dict[tuple[int, str, str], int] = field(default_factory=dict)
    # (hour, service, user_id) -> [LLM calls, tokens, priced cost]: per-user limits
    usage: dict[tuple[int, str, str], list[float]] = field(default_factory=dict)
    # (service, session_id, ts, id) of the stored events that have a session: the rows
    # of event_sessions that applying the delta adds
    index: list[tuple[str, str, float, str]] = field(default_factory=list)
    # on SQLite, the same as (lo, hi] ranges of the events' rowids instead
    ranges: list[tuple[int, int]] = field(default_factory=list)
    # while counting: the batch, and the (type, run_id) of its LLM calls and searches
    batch: Sequence[Event] = ()
    runs: set[tuple[str, str | None]] | None = None

    def observe(self, key: HistKey) -> None:
        hist = self.hist
        hist[key] = hist.get(key, 0) + 1

    def session(self, e: Event, ts: float) -> SessionDelta | None:
        sid = e.session_id
        if sid is None:
            return None
        key = (e.service, sid)
        s = self.sessions.get(key)
        if s is None:
            s = self.sessions[key] = SessionDelta.first(e.service, sid, e.user_id, e.user_type, ts)
            return s
        if ts > s.last_seen:
            s.last_seen = ts
        elif s.first_seen is not None and ts < s.first_seen:
            s.first_seen = ts
        if s.user_id is None:
            s.user_id = e.user_id
        if s.user_type is None:
            s.user_type = e.user_type
        return s

    def user_message(self, e: Event, ts: float) -> None:
        if e.user_id is not None:
            key = (int(ts // DAY) * DAY, e.service, e.user_id)
            self.users[key] = self.users.get(key, 0) + 1

    def absorb(self, other: Delta) -> None:
        """Add ``other``'s counts, histogram bins and user messages (not its sessions):
        in C when it is built (the same sums: the number protocol adds them)."""
        fast = _fast
        if fast is not None:
            fast.merge_cells(self.counts, other.counts, 2)
            fast.merge_counts(self.hist, other.hist)
            fast.merge_counts(self.users, other.users)
            fast.merge_cells(self.usage, other.usage, 3)
            return
        add_cells(self.counts, other.counts)
        add_counts(self.hist, other.hist)
        add_counts(self.users, other.users)
        add_cells3(self.usage, other.usage)

    def merge(self, other: Delta) -> None:
        """Add all of ``other``, sessions included (its session deltas are consumed)."""
        self.absorb(other)
        merge_sessions(self.sessions, other.sessions.values())
        self.index += other.index
        self.ranges += other.ranges

    def folded(self) -> tuple[dict[tuple[Any, ...], list[float]], dict[tuple[Any, ...], int]]:
        """Minute increments plus the same folded into hours and days, keyed with ``res``."""
        counts: dict[tuple[Any, ...], list[float]] = {}
        for key, (n, total) in self.counts.items():
            rest = key[1:]
            for res in RESOLUTIONS:
                full = (res, key[0] // res * res, *rest)
                cell = counts.get(full)
                if cell is None:
                    counts[full] = [n, total]
                else:
                    cell[0] += n
                    cell[1] += total
        hist: dict[tuple[Any, ...], int] = {}
        for hkey, n in self.hist.items():
            hrest = hkey[1:]
            for res in RESOLUTIONS:
                hfull = (res, hkey[0] // res * res, *hrest)
                hist[hfull] = hist.get(hfull, 0) + n
        return counts, hist


# Each handler gets the event, its time, its minute and its user type ("" when unknown);
# keys are built inline because this loop is the ingest hot path.


def _turn(d: Delta, e: Turn, ts: float, m: int, ut: str) -> None:
    c = d.counts
    svc = e.service
    model = e.model or ""
    rt = e.response_time_ms
    _add(c, (m, svc, "turns", model, "", ut, ""), rt)
    d.observe((m, svc, "turn_rt", model, ut, "", bin_of(rt)))
    _add(c, (m, svc, "rt_prom", "", prom_bucket(rt), ut, ""))
    if not e.success:
        _add(c, (m, svc, "turns_failed", model, e.error_type or "unknown", ut, ""))
    elif e.status_code is not None and 400 <= e.status_code < 500:
        _add(c, (m, svc, "turns_client_error", model, str(e.status_code), ut, ""))
    if e.tokens is not None and not _backed(d, e, e.llm_calls, "llm_call"):
        _add(c, (m, svc, "turn_llm_own", model, "", ut, ""), float(e.tokens))
    if (e.rag_used or e.rag_found) and not _backed(d, e, e.rag_searches, "rag_search"):
        _add(c, (m, svc, "turn_rag_own", model, "", ut, ""))
        if not e.rag_found:
            _add(c, (m, svc, "turn_rag_own_empty", model, "", ut, ""))
    cached = e.cached
    if cached is not None:
        _add(c, (m, svc, "turns_cache_known", model, "", ut, ""))
        if cached:
            _add(c, (m, svc, "turns_cached", model, "", ut, ""))
    if e.tokens is not None:
        _add(c, (m, svc, "turn_tokens", model, "", ut, ""), float(e.tokens))
    if e.rag_used or e.rag_found:
        _add(c, (m, svc, "turns_rag_used", model, "", ut, ""))
        if e.rag_found:
            _add(c, (m, svc, "turns_rag_found", model, "", ut, ""))
    if e.topic:
        _add(c, (m, svc, "topics", model, e.topic, ut, ""))
    _add(c, (m, svc, "messages", "", e.sender_type, ut, ""))
    _add(c, (m, svc, "messages", "", "assistant", ut, ""))
    d.user_message(e, ts)
    s = d.session(e, ts)
    if s is not None:
        s.turns += 1
        s.messages += 2
        s.errors += 0 if e.success else 1


def _backed(d: Delta, e: Turn, said: int | None, kind: str) -> bool:
    """Whether the turn's own events of ``kind`` are there: as the turn says, else as its
    batch shows (events of its run in the same batch)."""
    if said is not None:
        return said > 0
    runs = d.runs
    if runs is None:
        runs = d.runs = {
            (x.type, getattr(x, "run_id", None))
            for x in d.batch
            # an embedding call does not account for a turn's tokens
            if x.type == "rag_search" or (x.type == "llm_call" and x.kind == "chat")
        }
    return (kind, e.run_id or e.id) in runs


def _llm_call(d: Delta, e: LLMCall, ts: float, m: int, ut: str) -> None:
    if e.kind == "embedding":
        _embedding(d, e, ts, m, ut)
        return
    c = d.counts
    svc = e.service
    model = e.model
    latency = e.latency_ms
    _add(c, (m, svc, "llm_calls", model, "", ut, ""), latency)
    d.observe((m, svc, "llm_latency", model, ut, "", bin_of(latency)))
    _add(c, (m, svc, "llm_prom", model, prom_bucket(latency), ut, ""))
    _add(c, (m, svc, "llm_input_tokens", model, "", ut, ""), float(e.input_tokens))
    _add(c, (m, svc, "llm_output_tokens", model, "", ut, ""), float(e.output_tokens))
    cost = priced_cost(e)
    if cost is not None:
        _add(c, (m, svc, "llm_cost", model, "", ut, ""), cost)
    else:
        _add(c, (m, svc, "llm_unpriced", model, "", ut, ""))
    if not e.success:
        _add(c, (m, svc, "llm_failed", model, e.error_type or "unknown", ut, ""))
    if e.user_id is not None:
        key = (int(ts // HOUR) * HOUR, svc, e.user_id)
        cell = d.usage.get(key)
        tokens = float(e.input_tokens + e.output_tokens)
        if cell is None:
            d.usage[key] = [1.0, tokens, cost or 0.0]
        else:
            cell[0] += 1
            cell[1] += tokens
            cell[2] += cost or 0.0
    d.session(e, ts)


def _embedding(d: Delta, e: LLMCall, ts: float, m: int, ut: str) -> None:
    c = d.counts
    svc, model = e.service, e.model
    _add(c, (m, svc, "emb_calls", model, "", ut, ""), e.latency_ms)
    _add(c, (m, svc, "emb_tokens", model, "", ut, ""), float(e.input_tokens))
    cost = priced_cost(e)
    if cost is not None:
        _add(c, (m, svc, "emb_cost", model, "", ut, ""), cost)
    else:
        _add(c, (m, svc, "emb_unpriced", model, "", ut, ""))
    if not e.success:
        _add(c, (m, svc, "emb_failed", model, e.error_type or "unknown", ut, ""))
    d.session(e, ts)


def _rag_search(d: Delta, e: RAGSearch, ts: float, m: int, ut: str) -> None:
    c = d.counts
    svc = e.service
    _add(c, (m, svc, "rag_searches", "", "", ut, ""), e.search_time_ms)
    d.observe((m, svc, "rag_search_time", "", ut, "", bin_of(e.search_time_ms)))
    similarity = e.similarity
    if e.results == 0:
        _add(c, (m, svc, "rag_no_results", "", "", ut, ""))
    elif similarity is not None:
        _add(c, (m, svc, "rag_scored", "", "", ut, ""), similarity)
    if similarity is not None:
        # the epsilon keeps 0.35 (6.999999... twentieths in floating point) in [0.35, 0.40)
        edge = max(min(math.floor(similarity * 20 + 1e-9), 19), -20) / 20
        _add(c, (m, svc, "rag_sim_bins", "", f"{edge:.2f}", ut, ""))
    if e.cache_hit:
        _add(c, (m, svc, "rag_cache_hits", "", "", ut, ""))
    d.session(e, ts)


def _cache_lookup(d: Delta, e: CacheLookup, ts: float, m: int, ut: str) -> None:
    _add(d.counts, (m, e.service, "cache_lookups", "", e.kind, ut, ""), 1.0 if e.hit else 0.0)
    d.session(e, ts)


def _connection(d: Delta, e: Connection, ts: float, m: int, ut: str) -> None:
    _add(d.counts, (m, e.service, "connections", "", e.action, ut, e.channel))
    s = d.session(e, ts)
    if s is not None:
        s.channel = s.channel or e.channel
        s.open_connections += -1 if e.action == "disconnect" else 1
        if e.action == "connect":
            s.connects = (*s.connects, (ts, ut, e.channel))
        if e.action == "reconnect":
            s.reconnects += 1
            if s.first_reconnect is None or ts < s.first_reconnect:
                s.first_reconnect = ts


def _session_started(d: Delta, e: SessionStarted, ts: float, m: int, ut: str) -> None:
    # counted by the writer, once per session, whichever event starts it
    s = d.session(e, ts)
    if s is not None:
        s.channel = e.channel
        s.started_at = ts if s.started_at is None else min(s.started_at, ts)


def _session_ended(d: Delta, e: SessionEnded, ts: float, m: int, ut: str) -> None:
    _add(d.counts, (m, e.service, "sessions_ended", "", "", ut, e.channel or ""))
    s = d.session(e, ts)
    if s is not None:
        s.ended_at = ts if s.ended_at is None else max(s.ended_at, ts)


def _feedback(d: Delta, e: Feedback, ts: float, m: int, ut: str) -> None:
    if e.rating is not None:
        _add(d.counts, (m, e.service, "ratings", "", str(e.rating), ut, ""), float(e.rating))
    if e.thumbs is not None:
        _add(d.counts, (m, e.service, "thumbs", "", e.thumbs, ut, ""))
    s = d.session(e, ts)
    if s is not None and e.rating is not None:
        s.rating_sum += e.rating
        s.rating_n += 1


def _escalation(d: Delta, e: Escalation, ts: float, m: int, ut: str) -> None:
    _add(d.counts, (m, e.service, "escalations", "", "", ut, ""))
    s = d.session(e, ts)
    if s is not None:
        s.escalated_at = ts if s.escalated_at is None else min(s.escalated_at, ts)


def _message(d: Delta, e: Message, ts: float, m: int, ut: str) -> None:
    _add(d.counts, (m, e.service, "messages", "", e.sender_type, ut, ""))
    if e.sender_type == "user":
        d.user_message(e, ts)
    s = d.session(e, ts)
    if s is not None:
        s.messages += 1


def _heartbeat(d: Delta, e: Heartbeat, ts: float, m: int, ut: str) -> None:
    # traffic for silence detection; the figures are read from the events themselves
    _add(d.counts, (m, e.service, "heartbeats", "", "", ut, ""))


_HANDLERS: dict[str, Callable[[Delta, Any, float, int, str], None]] = {
    "turn": _turn,
    "llm_call": _llm_call,
    "rag_search": _rag_search,
    "cache_lookup": _cache_lookup,
    "connection": _connection,
    "session_started": _session_started,
    "session_ended": _session_ended,
    "feedback": _feedback,
    "escalation": _escalation,
    "message": _message,
    "heartbeat": _heartbeat,
}


def priced_cost(e: LLMCall) -> float | None:
    """The call's own cost, else the price table's; None when the model is not priced."""
    if e.cost_usd is not None:
        return e.cost_usd
    return cost_usd(e.model, e.input_tokens, e.output_tokens)


def compute_delta(events: Iterable[Event | FastEvent]) -> Delta:
    """The batch's increments: in C for the msgspec events of the ingest hot path
    (chatwatch/store/_delta.c, the same figures bit for bit), else :func:`python_delta`."""
    batch = events if isinstance(events, list) else list(events)
    if _fast is not None and batch and isinstance(batch[0], msgspec.Struct):
        done = _fast.compute(batch)
        if done is not None:
            counts, hist, sessions, users, usage = done
            return Delta(counts=counts, hist=hist, sessions=sessions, users=users, usage=usage)
    return python_delta(batch)


def python_delta(events: Iterable[Event | FastEvent]) -> Delta:
    """The definition of every increment (the C code mirrors it)."""
    delta = Delta()
    batch: Sequence[Any] = events if isinstance(events, list | tuple) else list(events)
    delta.batch = batch
    handlers = _HANDLERS
    for e in batch:
        ts = e.ts
        handlers[e.type](delta, e, ts, int(ts // MINUTE) * MINUTE, e.user_type or "")
    delta.batch = ()
    delta.runs = None
    return delta


def _load_fast() -> Any:
    """The compiled increments, set up with this module's tables; None when the extension
    was not built or ``CHATWATCH_PURE_PYTHON`` is set (to compare the two)."""
    if os.environ.get("CHATWATCH_PURE_PYTHON"):
        return None
    try:
        from chatwatch.store import _delta
    except ImportError:
        return None
    from chatwatch import events_fast

    classes = {cls.type: cls for cls in events_fast.FastEvent.__args__}
    _delta.setup(
        classes,
        SessionDelta,
        PROM_BUCKETS,
        _PROM_LABELS,
        tuple(f"{k / 20:.2f}" for k in range(-20, 20)),
        sketch._MIN_VALUE,
        sketch._LOG_GAMMA,
        sketch.ZERO_BIN,
        price_for,
        cost_usd,
    )
    return _delta


_fast = _load_fast()


def rollup_core() -> Any:
    """The compiled module (set up), or None: what the writer's rows use too."""
    return _fast
