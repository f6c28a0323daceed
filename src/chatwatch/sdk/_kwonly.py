"""Keyword-only parameters without their per-call price.

CPython fills a missing keyword-only parameter by looking its name up in the function's
``__kwdefaults__`` dict, once per parameter per call: ``record_turn`` has 19 of them, which
cost ~300 ns a call, more than the rest of the call. Positional-or-keyword defaults come
from a tuple instead, almost free. So the hot record methods declare their options as
ordinary parameters behind a sentinel ``_kw: object = KW``: an extra positional argument
lands in ``_kw`` and the method refuses it (``refuse_positional``, a ``TypeError`` as
Python raises for a ``*``); ``keyword_only`` gives ``inspect``/``help`` the signature with
the ``*`` back. ``_kw`` is typed ``object`` so that ``f(**options)`` still type-checks
(mypy would match a ``dict[str, str]`` against it); the price is that mypy no longer
flags an extra positional argument, which fails at run time instead.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["KW", "KwOnly", "keyword_only", "refuse_positional"]

F = TypeVar("F", bound=Callable[..., Any])


class KwOnly:
    """The type of the ``_kw`` sentinel: only :data:`KW` is ever passed there."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<keyword-only options follow>"


KW = KwOnly()


def keyword_only(fn: F) -> F:
    """Show ``fn`` (``..., _kw=KW, a=..., b=...``) as ``..., *, a=..., b=...``."""
    params: list[inspect.Parameter] = []
    after = False
    for p in inspect.signature(fn).parameters.values():
        if p.name == "_kw":
            after = True
            continue
        params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) if after else p)
    fn.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return fn


def refuse_positional(method: str) -> TypeError:
    """The error for a positional argument given where only keywords are taken."""
    return TypeError(f"{method}() got too many positional arguments (pass the options by name)")
