"""Cheap, time-ordered event ids.

``<ms since epoch, 11 hex><process tag, 10 hex><counter, 6 hex>``: 27 characters that sort by
time, so the store's primary-key index grows at its end (random uuid4 keys make SQLite
inserts several times slower). The process tag is fresh after ``fork`` so a parent and its
children never mint the same id.
"""

from __future__ import annotations

import itertools
import os
import secrets

__all__ = ["new_id"]

_tag = secrets.token_hex(5)
_next = itertools.count().__next__
# (millisecond, prefix for that millisecond) swapped as one tuple so threads never see a mix.
_prefix: tuple[int, str] = (-1, "")


def new_id(ts: float) -> str:
    """An id for an event stamped ``ts`` (epoch seconds)."""
    global _prefix
    ms = int(ts * 1000)
    cached = _prefix
    if cached[0] != ms:
        cached = _prefix = (ms, f"{ms:011x}{_tag}")
    return cached[1] + "%06x" % (_next() & 0xFFFFFF)


def _reseed() -> None:
    global _tag, _next, _prefix
    _tag = secrets.token_hex(5)
    _next = itertools.count().__next__
    _prefix = (-1, "")


os.register_at_fork(after_in_child=_reseed)
