"""The C allocator's arenas for a process that ``chatwatch serve`` or ``demo`` owns.

glibc gives each thread that meets a busy arena one of its own, up to eight per core, and
an arena keeps what it freed for its thread. The server's request threads, writer and
fold thread each allocate and free whole batches (bodies, decoded events, rows), so their
arenas all grew to a batch's high-water mark: peak RSS at 1 M events in ``bench/ingest.py``
was 197 / 201 MB with glibc's default and 183 / 181 MB with two arenas, at the same rate
and CPU per event. Python's small objects do not go through these arenas (pymalloc).

Only the server's own process is tuned (as with the collector, server/gc_tuning.py); on a
C library without ``mallopt`` (musl, macOS) nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["ARENAS", "limit_malloc_arenas"]

ARENAS = 2
_M_ARENA_MAX = -8  # glibc's malloc.h


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """At most ``arenas`` allocator arenas from now on; False where the C library has
    no such setting."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, arenas))
