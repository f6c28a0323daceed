"""The in-app client: one per process, created once, shared by every thread and task.

Each record method builds a small dict in the shape of ``chatwatch.events`` (keys that
are not set are left out), queues it and returns its id. Nothing is validated or sent on
the caller's thread, and nothing raises into the app: a failure is logged to
``chatwatch.sdk`` and the method returns ``""``.
"""

from __future__ import annotations

import logging
import os
import time
import weakref
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from chatwatch.sdk._ids import new_id
from chatwatch.sdk._kwonly import KW, keyword_only, refuse_positional
from chatwatch.sdk._sender import Sender
from chatwatch.sdk.heartbeat import DEFAULT_INTERVAL_S, record_heartbeat, start_heartbeat
from chatwatch.sdk.outcome import FailureRule, default_failure_rule
from chatwatch.sdk.transports import FunctionTransport, HTTPTransport, Transport
from chatwatch.sdk.turn import TurnScope, _current

__all__ = ["Client"]

log = logging.getLogger("chatwatch.sdk")
_time = time.time
_warned: set[str] = set()
Attrs = Mapping[str, Any] | None


def _failed(method: str) -> str:
    level = logging.DEBUG if method in _warned else logging.WARNING
    _warned.add(method)
    log.log(level, "chatwatch: %s could not be recorded", method, exc_info=True)
    return ""


class Client:
    """Records chat-assistant events and ships them in the background.

    ``url``/``api_key`` default to ``$CHATWATCH_URL``/``$CHATWATCH_API_KEY``; pass
    ``transport=StoreTransport(store)`` to write to a local store without a server.
    ``failure_rule`` decides which turns failed, for every integration alike (default:
    an exception or a status >= 500; a 4xx is a client error on a successful turn).
    Every ``heartbeat_interval`` s (15; None: never) a heartbeat reports this process.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        service: str = "default",
        transport: Transport | None = None,
        max_queue: int = 10_000,
        batch_size: int = 2000,  # a request costs the server ~4 ms of CPU: 2 µs per event at 2000
        flush_interval: float = 1.0,
        timeout: float = 10.0,
        gzip: bool = True,
        backoff_base: float = 0.5,
        max_backoff: float = 30.0,
        shutdown_timeout: float = 2.0,
        failure_rule: FailureRule = default_failure_rule,
        heartbeat_interval: float | None = DEFAULT_INTERVAL_S,  # None: no heartbeats
    ) -> None:
        self.service = service
        self.failure_rule = failure_rule
        if transport is None:
            transport = _default_transport(url, api_key, timeout, gzip)
        self.transport = transport
        self._sender = Sender(
            self.transport,
            max_queue=max_queue,
            batch_size=batch_size,
            flush_interval=flush_interval,
            backoff_base=backoff_base,
            max_backoff=max_backoff,
        )
        self._put = self._sender.put
        self.shutdown_timeout = shutdown_timeout
        # Runs on garbage collection or at interpreter exit, whichever comes first.
        self._finalizer = weakref.finalize(self, self._sender.close, shutdown_timeout)
        self._heartbeat = start_heartbeat(self, heartbeat_interval)

    def __repr__(self) -> str:
        return f"Client(service={self.service!r}, transport={self.transport!r})"

    # -- lifecycle --------------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Block until what was recorded so far is delivered; False if ``timeout`` passed."""
        try:
            return self._sender.flush(timeout)
        except Exception:
            _failed("flush")
            return False

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is queued (waiting at most ``timeout`` s) and stop the sender."""
        try:
            if self._heartbeat is not None:
                self._heartbeat.stop()
            self._sender.close(self.shutdown_timeout if timeout is None else timeout)
        except Exception:
            _failed("close")

    def heartbeat(self) -> str:
        """Record a heartbeat of this process now (the SDK sends one every interval)."""
        return record_heartbeat(self)

    def stats(self) -> dict[str, int]:
        """recorded, queued, sent, dropped (queue full), rejected (4xx), retries, lost."""
        return self._sender.stats()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- turns ------------------------------------------------------------------------

    @keyword_only
    def turn(
        self,
        session_id: str | None = None,
        user_id: str | None = None,
        user_type: str | None = None,
        topic: str | None = None,
        model: str | None = None,
        _kw: object = KW,
        sender_type: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> TurnScope:
        """A ``with``/``async with`` block or decorator that records one turn (or joins
        the turn already current, e.g. the one the ASGI middleware opened)."""
        if _kw is not KW:
            raise refuse_positional("turn")
        return TurnScope(
            self, KW, session_id, user_id, user_type, topic, model, sender_type, attributes
        )

    @keyword_only
    def record_turn(
        self,
        response_time_ms: float,
        success: bool = True,
        _kw: object = KW,
        run_id: str | None = None,
        error_type: str | None = None,
        cached: bool | None = None,
        topic: str | None = None,
        model: str | None = None,
        tokens: int | None = None,
        rag_used: bool = False,
        rag_found: bool = False,
        status_code: int | None = None,
        llm_calls: int | None = None,
        rag_searches: int | None = None,
        sender_type: str | None = None,
        input_text: str | None = None,
        output_text: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        user_type: str | None = None,
        attributes: Attrs = None,
    ) -> str:
        """Record a turn timed by the app; returns its run id (the event id if none given).

        ``status_code`` keeps the HTTP status (a 4xx on a successful turn is a client
        error); ``llm_calls``/``rag_searches`` say how many of those events the turn
        recorded itself (0: its ``tokens``/``rag_used`` are all the LLM and RAG sections
        will know of it)."""
        if _kw is not KW:
            raise refuse_positional("record_turn")
        try:
            ts = _time()
            eid = new_id(ts)
            run_id = run_id or eid
            # a tuple now, the event's dict in the sender thread (off the app's time)
            s = self._sender  # Sender.put inlined: one call less per event
            q = s.queue
            q.append(
                (
                    _turn_event,
                    ts,
                    eid,
                    self.service,
                    run_id,
                    response_time_ms,
                    success,
                    error_type,
                    cached,
                    topic,
                    model,
                    tokens,
                    rag_used,
                    rag_found,
                    status_code,
                    llm_calls,
                    rag_searches,
                    sender_type,
                    input_text,
                    output_text,
                    session_id,
                    user_id,
                    user_type,
                    dict(attributes) if attributes else None,
                )
            )
            next(s._recorded)  # the tick
            if len(q) >= s._wake_at:
                s._nudge()
            return run_id
        except Exception:
            return _failed("record_turn")

    # -- events inside a turn ---------------------------------------------------------

    @keyword_only
    def llm_call(
        self,
        model: str,
        input_tokens: int = 0,
        output_tokens: int = 0,
        latency_ms: float = 0.0,
        _kw: object = KW,
        run_id: str | None = None,
        provider: str | None = None,
        success: bool = True,
        error_type: str | None = None,
        cost_usd: float | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        user_type: str | None = None,
        attributes: Attrs = None,
        turn: TurnScope | None = None,
    ) -> str:
        """Record one model call; inside a turn it joins the turn's run and tokens."""
        if _kw is not KW:
            raise refuse_positional("llm_call")
        try:
            if (scope := self._scope(turn, run_id)) is not None:
                scope.note_llm(model, input_tokens, output_tokens)
                run_id = scope.run_id
                session_id, user_id, user_type = scope.identity(session_id, user_id, user_type)
            ts = _time()
            eid = new_id(ts)
            s = self._sender  # Sender.put inlined: one call less per event
            q = s.queue
            q.append(
                (
                    _llm_event,
                    ts,
                    eid,
                    self.service,
                    model,
                    input_tokens,
                    output_tokens,
                    latency_ms,
                    run_id,
                    provider,
                    success,
                    error_type,
                    cost_usd,
                    session_id,
                    user_id,
                    user_type,
                    dict(attributes) if attributes else None,
                )
            )
            next(s._recorded)  # the tick
            if len(q) >= s._wake_at:
                s._nudge()
            return eid
        except Exception:
            return _failed("llm_call")

    @keyword_only
    def rag_search(
        self,
        similarity: float | None = None,
        top_similarity: float | None = None,
        results: int = 0,
        search_time_ms: float = 0.0,
        _kw: object = KW,
        cache_hit: bool = False,
        run_id: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        user_type: str | None = None,
        attributes: Attrs = None,
        turn: TurnScope | None = None,
    ) -> str:
        """Record one retrieval: mean and top similarity, result count, time taken."""
        if _kw is not KW:
            raise refuse_positional("rag_search")
        try:
            if (scope := self._scope(turn, run_id)) is not None:
                scope.note_rag(results)
                run_id = scope.run_id
                session_id, user_id, user_type = scope.identity(session_id, user_id, user_type)
            ts = _time()
            eid = new_id(ts)
            s = self._sender  # Sender.put inlined: one call less per event
            q = s.queue
            q.append(
                (
                    _rag_event,
                    ts,
                    eid,
                    self.service,
                    results,
                    search_time_ms,
                    similarity,
                    top_similarity,
                    cache_hit,
                    run_id,
                    session_id,
                    user_id,
                    user_type,
                    dict(attributes) if attributes else None,
                )
            )
            next(s._recorded)  # the tick
            if len(q) >= s._wake_at:
                s._nudge()
            return eid
        except Exception:
            return _failed("rag_search")

    def cache_lookup(
        self,
        hit: bool,
        kind: str = "response",
        *,
        run_id: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        user_type: str | None = None,
        attributes: Attrs = None,
        turn: TurnScope | None = None,
    ) -> str:
        """Record a response (or embedding, ...) cache lookup and whether it hit."""
        try:
            if (scope := self._scope(turn, run_id)) is not None:
                scope.note_cache(hit, kind)
                run_id = scope.run_id
                session_id, user_id, user_type = scope.identity(session_id, user_id, user_type)
            e: dict[str, Any] = {"type": "cache_lookup", "hit": hit, "kind": kind}
            if run_id is not None:
                e["run_id"] = run_id
            return self._emit(e, session_id, user_id, user_type, attributes)
        except Exception:
            return _failed("cache_lookup")

    # -- sessions and connections -----------------------------------------------------

    def session_started(
        self,
        session_id: str,
        channel: str = "websocket",
        *,
        user_id: str | None = None,
        user_type: str | None = None,
        attributes: Attrs = None,
    ) -> str:
        try:
            e: dict[str, Any] = {"type": "session_started", "channel": channel}
            return self._emit(e, session_id, user_id, user_type, attributes)
        except Exception:
            return _failed("session_started")

    def session_ended(
        self,
        session_id: str,
        reason: str | None = None,
        *,
        channel: str | None = None,
        user_id: str | None = None,
        user_type: str | None = None,
        attributes: Attrs = None,
    ) -> str:
        try:
            e: dict[str, Any] = {"type": "session_ended"}
            if reason is not None:
                e["reason"] = reason
            if channel is not None:
                e["channel"] = channel
            return self._emit(e, session_id, user_id, user_type, attributes)
        except Exception:
            return _failed("session_ended")

    def connect(self, session_id: str | None, channel: str = "websocket", **common: Any) -> str:
        """A WebSocket (or other channel) connection opened."""
        return self._connection("connect", session_id, channel, **common)

    def disconnect(self, session_id: str | None, channel: str = "websocket", **common: Any) -> str:
        """A connection closed."""
        return self._connection("disconnect", session_id, channel, **common)

    def reconnect(self, session_id: str | None, channel: str = "websocket", **common: Any) -> str:
        """A client reconnected after losing its connection."""
        return self._connection("reconnect", session_id, channel, **common)

    def _connection(
        self,
        action: str,
        session_id: str | None,
        channel: str,
        *,
        user_id: str | None = None,
        user_type: str | None = None,
        attributes: Attrs = None,
    ) -> str:
        try:
            e: dict[str, Any] = {"type": "connection", "action": action}
            if channel != "websocket":
                e["channel"] = channel
            return self._emit(e, session_id, user_id, user_type, attributes)
        except Exception:
            return _failed(action)

    # -- outcomes ---------------------------------------------------------------------

    def feedback(
        self,
        rating: int | None = None,
        thumbs: str | bool | None = None,
        *,
        run_id: str | None = None,
        session_id: str | None = None,
        comment: str | None = None,
        user_id: str | None = None,
        user_type: str | None = None,
        attributes: Attrs = None,
        turn: TurnScope | None = None,
    ) -> str:
        """A rating (1-5) and/or thumbs ("up"/"down", or True/False) for a turn or session;
        ``turn=`` rates that turn's run (a rating inside a turn is not tied to it)."""
        try:
            if turn is not None:
                run_id = run_id or turn.root.run_id
                session_id, user_id, user_type = turn.identity(session_id, user_id, user_type)
            e: dict[str, Any] = {"type": "feedback"}
            if rating is not None:
                e["rating"] = rating
            if thumbs is not None:
                e["thumbs"] = ("up" if thumbs else "down") if isinstance(thumbs, bool) else thumbs
            if run_id is not None:
                e["run_id"] = run_id
            if comment is not None:
                e["comment"] = comment
            return self._emit(e, session_id, user_id, user_type, attributes)
        except Exception:
            return _failed("feedback")

    def escalation(
        self,
        session_id: str | None,
        reason: str | None = None,
        *,
        run_id: str | None = None,
        user_id: str | None = None,
        user_type: str | None = None,
        attributes: Attrs = None,
        turn: TurnScope | None = None,
    ) -> str:
        """The conversation was handed to a human."""
        try:
            if (scope := self._scope(turn, run_id)) is not None:
                run_id = scope.run_id
                session_id, user_id, user_type = scope.identity(session_id, user_id, user_type)
            e: dict[str, Any] = {"type": "escalation"}
            if reason is not None:
                e["reason"] = reason
            if run_id is not None:
                e["run_id"] = run_id
            return self._emit(e, session_id, user_id, user_type, attributes)
        except Exception:
            return _failed("escalation")

    def message(
        self,
        sender_type: str,
        session_id: str | None = None,
        *,
        text: str | None = None,
        user_id: str | None = None,
        user_type: str | None = None,
        attributes: Attrs = None,
    ) -> str:
        """A message that is not a turn: a user message, a human agent's reply."""
        try:
            e: dict[str, Any] = {"type": "message", "sender_type": sender_type}
            if text is not None:
                e["text"] = text
            return self._emit(e, session_id, user_id, user_type, attributes)
        except Exception:
            return _failed("message")

    # -- the hot path -----------------------------------------------------------------

    def _scope(self, turn: TurnScope | None, run_id: str | None) -> TurnScope | None:
        """The turn an event belongs to: the one given, else this client's current one
        (unless the caller named another run)."""
        if turn is not None:
            return turn.root
        if run_id is None and (scope := _current.get()) is not None and scope.client is self:
            return scope.root
        return None

    def _emit(
        self,
        e: dict[str, Any],
        session_id: str | None,
        user_id: str | None,
        user_type: str | None,
        attributes: Attrs,
    ) -> str:
        if "ts" not in e:
            e["ts"] = ts = _time()
            e["id"] = new_id(ts)
            e["service"] = self.service
        if session_id is not None:
            e["session_id"] = session_id
        if user_id is not None:
            e["user_id"] = user_id
        if user_type is not None:
            e["user_type"] = user_type
        if attributes:
            e["attributes"] = dict(attributes)
        self._put(e)
        return e["id"]  # type: ignore[no-any-return]


def _default_transport(
    url: str | None, api_key: str | None, timeout: float, gzip: bool
) -> Transport:
    url = url or os.environ.get("CHATWATCH_URL")
    if url:
        key = api_key or os.environ.get("CHATWATCH_API_KEY")
        return HTTPTransport(url, key, timeout=timeout, gzip=gzip)
    log.warning("chatwatch: no url and no transport given; events will be discarded")
    return FunctionTransport(_discard)


def _discard(batch: list[dict[str, Any]]) -> None:
    return None


# -- events queued as tuples, made dicts by the sender thread -------------------------
# (the same keys in the same order as a dict made at the call; unset ones left out)


def _identity(e: dict[str, Any], session_id: Any, user_id: Any, user_type: Any, attrs: Any) -> None:
    if session_id is not None:
        e["session_id"] = session_id
    if user_id is not None:
        e["user_id"] = user_id
    if user_type is not None:
        e["user_type"] = user_type
    if attrs:
        e["attributes"] = attrs


def _turn_event(t: tuple[Any, ...]) -> dict[str, Any]:
    (_, ts, eid, service, run_id, rt, success, error_type, cached, topic, model, tokens) = t[:12]
    e: dict[str, Any] = {
        "type": "turn",
        "id": eid,
        "ts": ts,
        "service": service,
        "run_id": run_id,
        "response_time_ms": rt,
    }
    if not success:
        e["success"] = False
    if error_type is not None:
        e["error_type"] = error_type
    if cached is not None:  # None: not recorded, which is not a miss
        e["cached"] = bool(cached)
    if topic is not None:
        e["topic"] = topic
    if model is not None:
        e["model"] = model
    if tokens is not None:
        e["tokens"] = tokens
    rag_used, rag_found, status_code, llm_calls, rag_searches, sender_type = t[12:18]
    if rag_used:
        e["rag_used"] = True
    if rag_found:
        e["rag_found"] = True
    if status_code is not None:
        e["status_code"] = status_code
    if llm_calls is not None:
        e["llm_calls"] = llm_calls
    if rag_searches is not None:
        e["rag_searches"] = rag_searches
    if sender_type is not None:
        e["sender_type"] = sender_type
    input_text, output_text = t[18:20]
    if input_text is not None:
        e["input_text"] = input_text
    if output_text is not None:
        e["output_text"] = output_text
    _identity(e, *t[20:])
    return e


def _llm_event(t: tuple[Any, ...]) -> dict[str, Any]:
    _, ts, eid, service, model, tokens_in, tokens_out, latency, run_id, provider = t[:10]
    e: dict[str, Any] = {
        "type": "llm_call",
        "id": eid,
        "ts": ts,
        "service": service,
        "model": model,
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "latency_ms": latency,
    }
    success, error_type, cost = t[10:13]
    if run_id is not None:
        e["run_id"] = run_id
    if provider is not None:
        e["provider"] = provider
    if not success:
        e["success"] = False
    if error_type is not None:
        e["error_type"] = error_type
    if cost is not None:
        e["cost_usd"] = cost
    _identity(e, *t[13:])
    return e


def _rag_event(t: tuple[Any, ...]) -> dict[str, Any]:
    _, ts, eid, service, results, took, similarity, top, cache_hit, run_id = t[:10]
    e: dict[str, Any] = {
        "type": "rag_search",
        "id": eid,
        "ts": ts,
        "service": service,
        "results": results,
        "search_time_ms": took,
    }
    if similarity is not None:
        e["similarity"] = similarity
    if top is not None:
        e["top_similarity"] = top
    if cache_hit:
        e["cache_hit"] = True
    if run_id is not None:
        e["run_id"] = run_id
    _identity(e, *t[10:])
    return e
