"""Cheap, time-ordered event ids.

``<ms since epoch, 11 hex><process tag, 10 hex><counter, 6 hex>``: 27 characters that sort by
time, so the store's primary-key index grows at its end (random uuid4 keys make SQLite
inserts several times slower). The process tag is fresh after ``fork`` so a parent and its
children never mint the same id.

``new_id`` runs on the app's thread for every event, so it does no formatting in the common
case: the ``<ms><tag>`` prefix is cached with the exact range of timestamps that map to its
millisecond (two float comparisons instead of ``int(ts * 1000)``), and the counter's hex
comes from blocks of 4096 ready-made strings (one ``next`` of a list iterator). The ids are
the same as ``f"{int(ts * 1000):011x}{tag}{n & 0xFFFFFF:06x}"`` with ``n`` counting up.
"""

from __future__ import annotations

import itertools
import math
import os
import secrets
from collections.abc import Iterator

__all__ = ["new_id"]

_HEX3 = tuple(f"{i:03x}" for i in range(4096))
_tag = secrets.token_hex(5)
_blocks = itertools.count().__next__  # block k holds counters k*4096 .. k*4096+4095
# (lowest ts, first ts past, prefix) of the cached millisecond, swapped as one tuple so
# threads never see a mix
_span: tuple[float, float, str] = (math.inf, -math.inf, "")


def _block() -> Iterator[str]:
    """The next 4096 counters' hex (a block number is never handed out twice, so two
    threads renewing at once still mint distinct ids)."""
    high = _HEX3[_blocks() & 0xFFF]
    return iter([high + low for low in _HEX3])


_suffix = _block()


def _first_ts_of(ms: int) -> float:
    """The smallest float ``x`` with ``int(x * 1000) >= ms`` (so the cached range agrees
    with ``int(ts * 1000)`` to the last bit; ``x * 1000`` grows with ``x``)."""
    x = ms / 1000
    while x > 0 and int(x * 1000) >= ms:
        x = math.nextafter(x, -math.inf)
    while int(x * 1000) < ms:
        x = math.nextafter(x, math.inf)
    return x


def _prefix_for(ts: float) -> str:
    global _span
    ms = int(ts * 1000)
    prefix = f"{ms:011x}{_tag}"
    if ms >= 0:
        _span = (_first_ts_of(ms), _first_ts_of(ms + 1), prefix)
    return prefix


def new_id(ts: float) -> str:
    """An id for an event stamped ``ts`` (epoch seconds)."""
    global _suffix
    lo, past, prefix = _span
    if not lo <= ts < past:
        prefix = _prefix_for(ts)
    try:
        return prefix + next(_suffix)  # next(): cheaper than a bound __next__
    except StopIteration:
        _suffix = _block()
        return prefix + next(_suffix)


def _reseed() -> None:
    global _tag, _blocks, _suffix, _span
    _tag = secrets.token_hex(5)
    _blocks = itertools.count().__next__
    _suffix = _block()
    _span = (math.inf, -math.inf, "")


os.register_at_fork(after_in_child=_reseed)
