"""Process figures: the monitored app's (its SDK heartbeats, summed over its live
processes) and the chatwatch server's own (psutil, this process)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import psutil

from chatwatch.store import Instance

__all__ = ["LIVE_LOOKBACK_S", "SystemStats", "live", "per_host", "read_system", "summed"]

# heartbeats are read this far back; a process is live while its last one is younger
# than three of its intervals (45 s at the SDK's default 15 s)
LIVE_LOOKBACK_S = 900.0

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


def live(instances: list[Instance], now: float) -> list[Instance]:
    """The processes whose last heartbeat is recent enough (and not from the future)."""
    return [i for i in instances if now - 3 * i.interval_s <= i.ts <= now + 60]


def summed(values: list[float | int | None]) -> float | None:
    """The sum of the figures processes reported; None when none did."""
    known = [float(v) for v in values if v is not None]
    return sum(known) if known else None


def per_host(instances: list[Instance]) -> float | None:
    """Memory available summed over hosts, each host's latest figure counted once."""
    hosts: dict[str, tuple[float, float | None]] = {}
    for i in instances:
        if i.host not in hosts or i.ts >= hosts[i.host][0]:
            hosts[i.host] = (i.ts, i.memory_available_mb)
    return summed([value for _ts, value in hosts.values()])
