"""Garbage-collector settings for a process that ``chatwatch serve`` or ``demo`` owns.

Ingest allocates a few dozen containers per event (decoded events, row tuples, rollup
increments that wait in memory for the journal fold), and CPython's default thresholds
(700, 10, 10) then run a collection every few events and a full one whenever the heap of
waiting increments has grown by a quarter: measured with ``bench/ingest.py``, 0.8 s of the
server's 3 s of CPU for 100 000 events went to the collector (six full collections of
~80 ms each), and found next to nothing, since those objects are freed by reference
counting. Freezing what start-up made (modules, the app, the catalogue) and raising the
thresholds takes that to ~0.15 s; cycles are still collected, just less often.

Only the server's own process is tuned: an app that embeds ``create_app`` or the SDK keeps
its own collector settings.
"""

from __future__ import annotations

import gc

__all__ = ["GC_THRESHOLDS", "tune_for_server"]

# a young collection every 50 000 net container allocations, a full one after 20 x 20 of
# those (~20 M allocations, a few hundred thousand events) or the default 25 % growth rule
GC_THRESHOLDS = (50_000, 20, 20)


def tune_for_server() -> None:
    """Freeze start-up's objects out of every collection and raise the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
