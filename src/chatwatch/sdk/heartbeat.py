"""The app's own process, reported by the SDK: one ``heartbeat`` event every 15 s with its
resident memory, CPU, threads, open connections, SDK queue depth and drops, host and pid.

The figures are what guide 003's ``system`` section and its memory alert are about (the
assistant's process, not chatwatch's), and a heartbeat is traffic: an idle app that is
still running is not a silent one. A daemon thread records the beat through the client's
queue like any other event, so a beat costs the app's threads nothing; a forked child
starts its own thread with its own pid.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

import psutil

from chatwatch.sdk._ids import new_id

if TYPE_CHECKING:
    from chatwatch.sdk.client import Client

__all__ = [
    "DEFAULT_INTERVAL_S",
    "Heartbeat",
    "heartbeat_event",
    "record_heartbeat",
    "start_heartbeat",
]

log = logging.getLogger("chatwatch.sdk")
DEFAULT_INTERVAL_S = 15.0
_MB = 1_048_576


def _connections(proc: psutil.Process) -> int | None:
    try:
        return len(proc.net_connections(kind="inet"))
    except (psutil.Error, OSError):
        return None  # not allowed on this OS without privileges


def heartbeat_event(client: Client, proc: psutil.Process, interval_s: float) -> dict[str, Any]:
    """One heartbeat in the shape of ``chatwatch.events.Heartbeat``."""
    ts = time.time()
    with proc.oneshot():
        rss = proc.memory_info().rss
        cpu = proc.cpu_percent(None)
        threads = proc.num_threads()
        started = proc.create_time()
    stats = client.stats()
    event: dict[str, Any] = {
        "type": "heartbeat",
        "id": new_id(ts),
        "ts": ts,
        "service": client.service,
        "host": (socket.gethostname() or "unknown")[:64],
        "pid": os.getpid(),
        "memory_rss_mb": round(rss / _MB, 3),
        "cpu_percent": round(cpu, 2),
        "threads": threads,
        "queue_depth": stats.get("queued", 0),
        "dropped": stats.get("dropped", 0),
        "memory_available_mb": round(psutil.virtual_memory().available / _MB, 1),
        "started_at": started,
        "interval_s": interval_s,
    }
    connections = _connections(proc)
    if connections is not None:
        event["connections"] = connections
    return event


class Heartbeat:
    """Records a heartbeat every ``interval_s`` until stopped (the first one after the
    first interval, so a short-lived client sends none)."""

    def __init__(self, client: Client, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._client = weakref.ref(client)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._proc = psutil.Process()
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _restart_in_child(ref))

    def start(self) -> Heartbeat:
        self._proc = psutil.Process()  # this process (a forked child has its own pid)
        self._proc.cpu_percent(None)  # prime: CPU is measured between two calls
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chatwatch-heartbeat", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def beat(self) -> bool:
        """Record one heartbeat now; False when the client is gone or it failed."""
        client = self._client()
        if client is None:
            return False
        try:
            client._put(heartbeat_event(client, self._proc, self.interval_s))
        except Exception:
            log.debug("chatwatch: a heartbeat could not be recorded", exc_info=True)
            return False
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            if not self.beat() and self._client() is None:
                return


def record_heartbeat(client: Client) -> str:
    """One heartbeat now, through the client's queue; its id, or "" if it failed."""
    beat = client._heartbeat
    try:
        proc = beat._proc if beat is not None else psutil.Process()
        interval = beat.interval_s if beat is not None else DEFAULT_INTERVAL_S
        event = heartbeat_event(client, proc, interval)
        client._put(event)
    except Exception:
        log.debug("chatwatch: a heartbeat could not be recorded", exc_info=True)
        return ""
    return str(event["id"])


def start_heartbeat(client: Client, interval_s: float | None) -> Heartbeat | None:
    """The client's heartbeat thread, started; None when ``interval_s`` is None or 0."""
    return Heartbeat(client, interval_s).start() if interval_s else None


def _restart_in_child(ref: weakref.ref[Heartbeat]) -> None:
    heartbeat = ref()
    if heartbeat is not None and heartbeat._thread is not None and not heartbeat._stop.is_set():
        heartbeat.start()
