"""``client.turn(...)``: time one answered message and tie its LLM/RAG events to it.

One scope is one run. Used as ``with``/``async with`` it records a ``turn`` event on exit
(success, or failure with the exception's type, which still propagates); used as a
decorator it opens a fresh scope per call. Inside a scope, the client's own ``llm_call``,
``rag_search``, ``cache_lookup`` and ``escalation`` pick up its run id and session, so code
deep in the call stack needs no handle on the scope (``current_turn()`` gives one anyway).
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from chatwatch.sdk._ids import new_id

if TYPE_CHECKING:
    from chatwatch.sdk.client import Client

__all__ = ["TurnScope", "current_turn"]

log = logging.getLogger("chatwatch.sdk")
F = TypeVar("F", bound=Callable[..., Any])
_current: ContextVar[TurnScope | None] = ContextVar("chatwatch_turn", default=None)


def current_turn() -> TurnScope | None:
    """The innermost turn scope active in this thread or task, if any."""
    return _current.get()


class TurnScope:
    def __init__(
        self,
        client: Client,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        user_type: str | None = None,
        topic: str | None = None,
        model: str | None = None,
        sender_type: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        self.client = client
        self.session_id = session_id
        self.user_id = user_id
        self.user_type = user_type
        self._params: dict[str, Any] = {
            "topic": topic,
            "model": model,
            "sender_type": sender_type,
            "attributes": attributes,
        }
        self._renew()

    def _renew(self) -> None:
        self.run_id = new_id(time.time())
        self._fields: dict[str, Any] = {}
        self._tokens = 0
        self._llm_calls = 0
        self._last_model: str | None = None
        self._rag_used = self._rag_found = False
        self._cache_hit: bool | None = None  # None until a response cache lookup is noted
        self._start = time.perf_counter()
        self._token: Token[TurnScope | None] | None = None
        self._done = False

    def _fresh(self) -> TurnScope:
        return TurnScope(
            self.client,
            session_id=self.session_id,
            user_id=self.user_id,
            user_type=self.user_type,
            **self._params,
        )

    # -- the turn's own data ----------------------------------------------------------

    def set(
        self,
        *,
        cached: bool | None = None,
        topic: str | None = None,
        model: str | None = None,
        tokens: int | None = None,
        rag_used: bool | None = None,
        rag_found: bool | None = None,
        success: bool | None = None,
        error_type: str | None = None,
        input_text: str | None = None,
        output_text: str | None = None,
    ) -> None:
        """Turn fields known only inside the block; ``None`` leaves a field as it was."""
        given = {
            "cached": cached,
            "topic": topic,
            "model": model,
            "tokens": tokens,
            "rag_used": rag_used,
            "rag_found": rag_found,
            "success": success,
            "error_type": error_type,
            "input_text": input_text,
            "output_text": output_text,
        }
        self._fields.update((k, v) for k, v in given.items() if v is not None)

    def note_llm(self, model: Any, input_tokens: Any, output_tokens: Any) -> None:
        self._llm_calls += 1
        self._last_model = model
        if type(input_tokens) is int and type(output_tokens) is int:
            self._tokens += input_tokens + output_tokens

    def note_rag(self, results: Any) -> None:
        self._rag_used = True
        if type(results) is int and results > 0:
            self._rag_found = True

    def note_cache(self, hit: Any, kind: Any) -> None:
        if kind == "response":
            self._cache_hit = bool(self._cache_hit) or hit is True

    def identity(
        self, session_id: str | None, user_id: str | None, user_type: str | None
    ) -> tuple[str | None, str | None, str | None]:
        """The caller's identity fields, defaulted from the scope's."""
        return (
            self.session_id if session_id is None else session_id,
            self.user_id if user_id is None else user_id,
            self.user_type if user_type is None else user_type,
        )

    # -- events inside the turn: the client's methods with this turn's run and session ---

    def llm_call(
        self,
        model: str,
        input_tokens: int = 0,
        output_tokens: int = 0,
        latency_ms: float = 0.0,
        *,
        provider: str | None = None,
        success: bool = True,
        error_type: str | None = None,
        cost_usd: float | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> str:
        self.note_llm(model, input_tokens, output_tokens)
        return self.client.llm_call(
            model,
            input_tokens,
            output_tokens,
            latency_ms,
            run_id=self.run_id,
            provider=provider,
            success=success,
            error_type=error_type,
            cost_usd=cost_usd,
            session_id=self.session_id,
            user_id=self.user_id,
            user_type=self.user_type,
            attributes=attributes,
        )

    def rag_search(
        self,
        similarity: float | None = None,
        top_similarity: float | None = None,
        results: int = 0,
        search_time_ms: float = 0.0,
        *,
        cache_hit: bool = False,
        attributes: Mapping[str, Any] | None = None,
    ) -> str:
        self.note_rag(results)
        return self.client.rag_search(
            similarity,
            top_similarity,
            results,
            search_time_ms,
            cache_hit=cache_hit,
            run_id=self.run_id,
            session_id=self.session_id,
            user_id=self.user_id,
            user_type=self.user_type,
            attributes=attributes,
        )

    def cache_lookup(
        self, hit: bool, kind: str = "response", *, attributes: Mapping[str, Any] | None = None
    ) -> str:
        self.note_cache(hit, kind)
        return self.client.cache_lookup(
            hit,
            kind,
            run_id=self.run_id,
            session_id=self.session_id,
            user_id=self.user_id,
            user_type=self.user_type,
            attributes=attributes,
        )

    def feedback(
        self,
        rating: int | None = None,
        thumbs: str | bool | None = None,
        *,
        comment: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> str:
        return self.client.feedback(
            rating,
            thumbs,
            run_id=self.run_id,
            session_id=self.session_id,
            comment=comment,
            user_id=self.user_id,
            user_type=self.user_type,
            attributes=attributes,
        )

    def escalation(
        self, reason: str | None = None, *, attributes: Mapping[str, Any] | None = None
    ) -> str:
        return self.client.escalation(
            self.session_id,
            reason,
            run_id=self.run_id,
            user_id=self.user_id,
            user_type=self.user_type,
            attributes=attributes,
        )

    # -- scope protocol ---------------------------------------------------------------

    def __enter__(self) -> TurnScope:
        try:
            if self._done:
                self._renew()
            self._token = _current.set(self)
            self._start = time.perf_counter()
        except Exception:
            log.debug("chatwatch: entering a turn failed", exc_info=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finish(exc)

    async def __aenter__(self) -> TurnScope:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finish(exc)

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

    def _finish(self, exc: BaseException | None) -> None:
        elapsed_ms = (time.perf_counter() - self._start) * 1000.0
        self._done = True
        try:
            if self._token is not None:
                token, self._token = self._token, None
                _current.reset(token)
        except Exception:  # e.g. exited in another context than it was entered in
            log.debug("chatwatch: leaving a turn failed", exc_info=True)
        try:
            self._record(elapsed_ms, exc)
        except Exception:
            log.debug("chatwatch: recording a turn failed", exc_info=True)

    def _record(self, elapsed_ms: float, exc: BaseException | None) -> None:
        f = self._fields
        p = self._params
        error_type = f.get("error_type")
        if exc is not None and error_type is None:
            error_type = type(exc).__name__
        model = f.get("model", p["model"])
        if model is None and isinstance(self._last_model, str):
            model = self._last_model
        rag_found = bool(f.get("rag_found", self._rag_found))
        self.client.record_turn(
            elapsed_ms,
            exc is None and bool(f.get("success", True)),
            run_id=self.run_id,
            error_type=error_type,
            cached=f.get("cached", self._cache_hit),
            topic=f.get("topic", p["topic"]),
            model=model,
            tokens=f.get("tokens", self._tokens if self._llm_calls else None),
            rag_used=bool(f.get("rag_used", self._rag_used)) or rag_found,
            rag_found=rag_found,
            sender_type=p["sender_type"],
            input_text=f.get("input_text"),
            output_text=f.get("output_text"),
            session_id=self.session_id,
            user_id=self.user_id,
            user_type=self.user_type,
            attributes=p["attributes"],
        )
