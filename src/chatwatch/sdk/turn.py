"""The one turn scope: every integration opens or joins it, and it records the turn.

``client.turn(...)``, the ASGI middleware, the WebSocket wrapper and the Channels mixin
all open a :class:`TurnScope`. Used as ``with``/``async with`` it becomes the *current*
turn of the thread or task (``chatwatch.current_turn()``), so code deep in the call stack
attaches its LLM calls, RAG searches and cache lookups to it; used as a decorator it opens
a fresh scope per call. A scope opened while another of the same client is current joins
it (its fields, identity and exception go to the outer turn) instead of recording a
second turn. When the outermost scope ends it records one ``turn`` event, failed or not
by the client's failure rule (:mod:`chatwatch.sdk.outcome`); an exception still propagates.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time  # read as time.perf_counter() at each call: tests substitute this module's clock
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from chatwatch.sdk._ids import new_id
from chatwatch.sdk._kwonly import KW, keyword_only, refuse_positional
from chatwatch.sdk.outcome import SUCCEEDED, default_failure_rule

if TYPE_CHECKING:
    from chatwatch.sdk.client import Client

__all__ = ["BEGIN_HOOKS", "TurnScope", "current_turn", "last_turn", "turn_of"]

log = logging.getLogger("chatwatch.sdk")
F = TypeVar("F", bound=Callable[..., Any])
_current: ContextVar[TurnScope | None] = ContextVar("chatwatch_turn", default=None)
# The last outermost turn begun in this context, kept after it ends: an error captured
# later in the same request or task (by a framework's Sentry integration, a log handler)
# still knows which run it belongs to.
_last: ContextVar[TurnScope | None] = ContextVar("chatwatch_last_turn", default=None)
_EXC_ATTR = "__chatwatch_turn__"  # the turn an exception failed, set on the exception
# Called with each outermost turn as it begins (an error reporter notes where it began:
# the Sentry integration keeps the request's scope on ``turn.origin``).
BEGIN_HOOKS: list[Callable[[TurnScope], None]] = []

_FIELDS = (
    "cached",
    "topic",
    "model",
    "tokens",
    "rag_used",
    "rag_found",
    "success",
    "error_type",
    "status_code",
    "input_text",
    "output_text",
)


def current_turn() -> TurnScope | None:
    """The turn being handled in this thread or task (the outermost scope), if any."""
    scope = _current.get()
    return None if scope is None else scope.root


def last_turn() -> TurnScope | None:
    """The current turn, else the last one that ran in this context."""
    return current_turn() or _last.get()


def turn_of(exc: BaseException | None) -> TurnScope | None:
    """The turn that ``exc`` (or an exception it was raised from) failed, if any."""
    for _ in range(8):
        if exc is None:
            return None
        turn = getattr(exc, _EXC_ATTR, None)
        if isinstance(turn, TurnScope):
            return turn
        exc = exc.__cause__ or exc.__context__
    return None


class TurnScope:
    # slots: a turn() block sets and reads ~20 attributes, and slot access is the cheapest
    __slots__ = (
        "__weakref__",
        "_attributes",
        "_cache_hit",
        "_done",
        "_exc",
        "_fields",
        "_last_model",
        "_llm_calls",
        "_model",
        "_outer",
        "_rag_found",
        "_rag_searches",
        "_sender_type",
        "_start",
        "_token",
        "_tokens",
        "_topic",
        "client",
        "origin",
        "run_id",
        "sensitive",
        "session_id",
        "user_id",
        "user_type",
    )

    @keyword_only
    def __init__(
        self,
        client: Client,
        _kw: object = KW,
        session_id: str | None = None,
        user_id: str | None = None,
        user_type: str | None = None,
        topic: str | None = None,
        model: str | None = None,
        sender_type: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        if _kw is not KW:
            raise refuse_positional("TurnScope")
        self.client = client
        self.session_id = session_id
        self.user_id = user_id
        self.user_type = user_type
        self._topic = topic
        self._model = model
        self._sender_type = sender_type
        self._attributes = dict(attributes) if attributes else None
        # _renew(), inlined: one call less for every turn
        self.run_id = new_id(time.time())
        self._fields: dict[str, Any] = {}
        self._tokens = self._llm_calls = self._rag_searches = 0
        self._last_model: str | None = None
        self._rag_found = False
        self._cache_hit: bool | None = None
        self._start = time.perf_counter()
        self._token: Token[TurnScope | None] | None = None
        self._outer: TurnScope | None = None
        self._exc: BaseException | None = None
        self._done = False
        self.sensitive: list[str] = []
        self.origin: object = None  # set by a BEGIN_HOOKS hook

    def _renew(self) -> None:
        """Fresh per-turn state, for a scope used again after it ended (as __init__)."""
        self.run_id = new_id(time.time())
        self._fields = {}
        self._tokens = self._llm_calls = self._rag_searches = 0
        self._last_model = None
        self._rag_found = False
        self._cache_hit = None  # None until a response cache lookup is noted
        self._start = time.perf_counter()
        self._token = None
        self._outer = None
        self._exc = None
        self._done = False
        self.sensitive = []  # texts of this turn that must not reach error reports
        self.origin = None

    @property
    def root(self) -> TurnScope:
        """The outermost scope this one joined (itself when it is the outermost)."""
        scope = self
        while scope._outer is not None:
            scope = scope._outer
        return scope

    # -- the turn's own data ----------------------------------------------------------

    def set(self, **fields: Any) -> None:
        """Turn fields known only inside the block (``cached``, ``topic``, ``model``,
        ``tokens``, ``rag_used``, ``rag_found``, ``success``, ``error_type``,
        ``status_code``, ``input_text``, ``output_text``); ``None`` leaves one as it was."""
        root = self.root
        for key, value in fields.items():
            if key not in _FIELDS:
                raise TypeError(f"set() got an unexpected field {key!r}")
            if value is not None:
                root._fields[key] = value
                if key in ("input_text", "output_text") and isinstance(value, str):
                    root.sensitive.append(value)

    def note_llm(self, model: Any, input_tokens: Any, output_tokens: Any) -> None:
        """Count a model call as the turn's."""
        root = self if self._outer is None else self.root
        root._llm_calls += 1
        root._last_model = model
        if type(input_tokens) is int and type(output_tokens) is int:
            root._tokens += input_tokens + output_tokens

    def note_rag(self, results: Any) -> None:
        """Count a retrieval as the turn's."""
        root = self if self._outer is None else self.root
        root._rag_searches += 1
        if type(results) is int and results > 0:
            root._rag_found = True

    def note_cache(self, hit: Any, kind: Any) -> None:
        if kind == "response":
            root = self.root
            root._cache_hit = bool(root._cache_hit) or hit is True

    def identity(
        self, session_id: str | None, user_id: str | None, user_type: str | None
    ) -> tuple[str | None, str | None, str | None]:
        """The caller's identity fields, defaulted from the turn's."""
        root = self.root
        return (
            root.session_id if session_id is None else session_id,
            root.user_id if user_id is None else user_id,
            root.user_type if user_type is None else user_type,
        )

    # -- events inside the turn: the client's own methods, tied to this turn ----------

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
        attributes: Mapping[str, Any] | None = None,
    ) -> str:
        """``client.llm_call`` in this turn: its tokens count as the turn's."""
        if _kw is not KW:
            raise refuse_positional("llm_call")
        return self.client.llm_call(
            model,
            input_tokens,
            output_tokens,
            latency_ms,
            KW,
            run_id,
            provider,
            success,
            error_type,
            cost_usd,
            session_id,
            user_id,
            user_type,
            attributes,
            self,
        )

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
        attributes: Mapping[str, Any] | None = None,
    ) -> str:
        """``client.rag_search`` in this turn."""
        if _kw is not KW:
            raise refuse_positional("rag_search")
        return self.client.rag_search(
            similarity,
            top_similarity,
            results,
            search_time_ms,
            KW,
            cache_hit,
            run_id,
            session_id,
            user_id,
            user_type,
            attributes,
            self,
        )

    def cache_lookup(self, hit: bool, *args: Any, **kwargs: Any) -> str:
        """``client.cache_lookup`` in this turn (a response-cache hit makes it cached)."""
        return self.client.cache_lookup(hit, *args, turn=self, **kwargs)

    def feedback(self, *args: Any, **kwargs: Any) -> str:
        """``client.feedback`` on this turn's run."""
        return self.client.feedback(*args, turn=self, **kwargs)

    def escalation(self, reason: str | None = None, **kwargs: Any) -> str:
        """``client.escalation`` from this turn."""
        return self.client.escalation(None, reason, turn=self, **kwargs)

    # -- scope protocol ---------------------------------------------------------------

    def __enter__(self) -> TurnScope:
        try:
            if self._done:
                self._renew()
            outer = _current.get()
            if outer is not None and outer.client is self.client and not (root := outer.root)._done:
                self._join(root)
            else:
                self._start = time.perf_counter()
                _last.set(self)
                for hook in BEGIN_HOOKS:
                    hook(self)
            self._token = _current.set(self)
        except Exception:
            log.debug("chatwatch: entering a turn failed", exc_info=True)
        return self

    def _join(self, root: TurnScope) -> None:
        self._outer = root
        self.run_id = root.run_id
        if self.session_id is not None:
            root.session_id = self.session_id
        if self.user_id is not None:
            root.user_id = self.user_id
        if self.user_type is not None:
            root.user_type = self.user_type
        if root._topic is None:
            root._topic = self._topic
        if root._model is None:
            root._model = self._model
        if root._sender_type is None:
            root._sender_type = self._sender_type
        if root._attributes is None:
            root._attributes = self._attributes

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish(exc)

    async def __aenter__(self) -> TurnScope:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish(exc)

    def __call__(self, fn: F) -> F:
        """Decorate a sync or async function: every call is its own turn."""
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                async with self._fresh():
                    return await fn(*args, **kwargs)

            return cast(F, run_async)

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return fn(*args, **kwargs)

        return cast(F, run)

    def _fresh(self) -> TurnScope:
        return TurnScope(
            self.client,
            KW,
            self.session_id,
            self.user_id,
            self.user_type,
            self._topic,
            self._model,
            self._sender_type,
            self._attributes,
        )

    def discard(self) -> None:
        """End the scope without a turn: an adapter saw a request that was none (a
        redirect the framework answered before any handler ran). What was attached to it
        is already recorded and keeps the turn's run id."""
        self.finish(_discarded=True)

    def finish(
        self,
        exc: BaseException | None = None,
        status: int | None = None,
        *,
        _discarded: bool = False,
    ) -> None:
        """End the scope: an adapter passes the exception and/or HTTP status it saw."""
        if self._done:
            return
        elapsed_ms = (time.perf_counter() - self._start) * 1000.0
        self._done = True
        try:
            if self._token is not None:
                token, self._token = self._token, None
                _current.reset(token)
        except Exception:  # e.g. exited in another context than it was entered in
            log.debug("chatwatch: leaving a turn failed", exc_info=True)
        try:
            if exc is not None and getattr(exc, _EXC_ATTR, None) is None:
                setattr(exc, _EXC_ATTR, self.root)
        except Exception:  # an exception type that takes no attributes
            pass
        try:
            outer = self._outer
            if outer is not None:
                if exc is not None and outer._exc is None:
                    outer._exc = exc
                return
            if _discarded:
                return
            self._record(elapsed_ms, exc or self._exc, status)
        except Exception:
            log.debug("chatwatch: recording a turn failed", exc_info=True)

    def _record(self, elapsed_ms: float, exc: BaseException | None, status: int | None) -> None:
        f = self._fields
        client = self.client
        rule = client.failure_rule
        if f:
            status = f.get("status_code", status)
        if exc is None and status is None and rule is default_failure_rule:
            outcome = SUCCEEDED  # what it answers, without the call (most turns)
        else:
            outcome = rule(exc, status)
        success = outcome.success
        error_type = outcome.error_type
        cached = self._cache_hit
        topic = self._topic
        model = self._model
        tokens = self._tokens if self._llm_calls else None
        rag_found = self._rag_found
        rag_used = self._rag_searches > 0
        input_text = output_text = None
        if f:  # set() was called: its fields win
            success = success and bool(f.get("success", True))
            error_type = f.get("error_type", error_type)
            cached = f.get("cached", cached)
            topic = f.get("topic", topic)
            model = f.get("model", model)
            tokens = f.get("tokens", tokens)
            rag_found = bool(f.get("rag_found", rag_found))
            rag_used = bool(f.get("rag_used", rag_used))
            input_text = f.get("input_text")
            output_text = f.get("output_text")
        if model is None and isinstance(self._last_model, str):
            model = self._last_model
        # positional: no keyword matching on the way out of every block
        client.record_turn(
            elapsed_ms,
            success,
            KW,
            self.run_id,
            error_type,
            cached,
            topic,
            model,
            tokens,
            rag_used or rag_found,
            rag_found,
            outcome.status_code,
            self._llm_calls,
            self._rag_searches,
            self._sender_type,
            input_text,
            output_text,
            self.session_id,
            self.user_id,
            self.user_type,
            self._attributes,
        )
