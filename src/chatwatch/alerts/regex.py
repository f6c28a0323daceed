"""Regular expressions of silence matchers, in RE2: linear time in the label's length.

Python's ``re`` backtracks: an admin silence ``([a-z]+-?)+`` against a 29-character
service name took 27 s, and 64 characters would not finish. RE2 (Google's engine, the
semantics of the Go ``regexp`` package Alertmanager matches with) runs in time linear
in the input whatever the pattern, and refuses what it cannot do in linear time
(backreferences, lookaround): such a matcher is refused when the silence is made.
Patterns are bounded in length and in the memory RE2 may use to compile them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

__all__ = ["MAX_PATTERN", "compile_matcher", "full_match"]

MAX_PATTERN = 1024  # characters
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is the caller's 4xx, not a log line
_OPTIONS.max_mem = 1 << 20  # bytes for the compiled program: a huge pattern fails


@lru_cache(maxsize=256)
def compile_matcher(pattern: str) -> Any:
    """The compiled pattern; ValueError naming what is wrong with it."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"regex longer than {MAX_PATTERN} characters")
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid"
        text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        raise ValueError(
            f"bad regex (RE2 syntax, no backreferences or lookaround): {text}"
        ) from None


def full_match(pattern: str, value: str) -> bool:
    """Does the whole of ``value`` match (Alertmanager's anchored matchers)?"""
    return compile_matcher(pattern).fullmatch(value) is not None
