"""Two allocator arenas for the server's process: threads that allocate at once share
them instead of each growing one of its own (glibc; elsewhere the setting is absent)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# threads allocating at once, then the arenas glibc's malloc_info reports
_PROBE = """
import ctypes, ctypes.util, sys, tempfile, threading
from chatwatch.server.malloc_tuning import limit_malloc_arenas
if sys.argv[1] == "limit":
    assert limit_malloc_arenas()
barrier = threading.Barrier(8)
def work():
    barrier.wait()
    for _ in range(200):
        kept = [bytes(4096) for _ in range(50)]
        del kept
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.fopen.restype = ctypes.c_void_p
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
with tempfile.NamedTemporaryFile(suffix=".xml") as out:
    handle = libc.fopen(out.name.encode(), b"w")
    libc.malloc_info(0, handle)
    libc.fclose(handle)
    print(open(out.name).read().count("<heap nr="))
"""


def _arenas(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_threads_share_two_arenas() -> None:
    assert _arenas("limit") <= 2 < _arenas("default")
