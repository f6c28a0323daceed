"""``chatwatch serve`` replicas as real subprocesses on one database, for the scale-out
test and bench/scaleout.py (a module of its own, like live_server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from live_server import free_port

__all__ = ["Replica", "start_replicas"]

_MAIN = "from chatwatch.cli import main; main()"


@dataclass
class Replica:
    """One ``chatwatch serve`` process."""

    db_url: str
    env: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Replica:
        args = ["serve", "--port", str(self.port), "--db", self.db_url, "--log-level", "warning"]
        env = {**os.environ, "CHATWATCH_MAINTENANCE_INTERVAL_S": "0", **self.env}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _MAIN, *args], env=env, stdout=subprocess.DEVNULL
        )
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"replica on port {self.port} exited ({self.proc.returncode})")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"replica on port {self.port} did not start")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as when a machine or container dies."""
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM and wait (uvicorn shuts down: the journal is folded, the lock released)."""
        if self.alive:
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def start_replicas(db_url: str, n: int, env: Mapping[str, str] | None = None) -> list[Replica]:
    """``n`` replicas started together (they start in parallel) and ready."""
    replicas = [Replica(db_url, dict(env or {})).start() for _ in range(n)]
    try:
        for replica in replicas:
            replica.wait_ready()
    except BaseException:
        for replica in replicas:
            replica.kill()
        raise
    return replicas
