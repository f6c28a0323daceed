"""This process's own health, as guide 003 reports it."""

from __future__ import annotations

import time
from dataclasses import dataclass

import psutil

__all__ = ["SystemStats", "read_system"]

_PROCESS = psutil.Process()
_PROCESS.cpu_percent(None)  # prime: the first reading is always 0.0


@dataclass(frozen=True)
class SystemStats:
    cpu_percent: float
    memory_usage_mb: float
    memory_available_mb: float
    threads: int
    uptime_seconds: float


def read_system() -> SystemStats:
    with _PROCESS.oneshot():
        cpu = _PROCESS.cpu_percent(None)
        rss = _PROCESS.memory_info().rss
        threads = _PROCESS.num_threads()
        created = _PROCESS.create_time()
    return SystemStats(
        cpu_percent=cpu,
        memory_usage_mb=rss / 1_048_576,
        memory_available_mb=psutil.virtual_memory().available / 1_048_576,
        threads=threads,
        uptime_seconds=max(time.time() - created, 0.0),
    )
