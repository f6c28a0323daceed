"""``chatwatch serve`` in a subprocess, for tests and benches that measure the server's
own CPU and memory (its ingest worker included) with psutil."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import psutil

from live_server import free_port

__all__ = ["ServerProcess"]


class ServerProcess:
    """The real server on a free port; ``env`` adds ``CHATWATCH_*`` settings."""

    def __init__(self, database_url: str, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.env = {
            "CHATWATCH_ALERTS_ENABLED": "false",
            "CHATWATCH_MAINTENANCE_INTERVAL_S": "0",
            "CHATWATCH_INGEST_PROCESSES": "1",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        code = "from chatwatch.cli import main; main()"
        args = ["serve", "--port", str(self.port), "--db", self.database_url]
        env = {**os.environ, **self.env}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *args, "--log-level", "warning"],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the server did not start")

    def processes(self) -> list[psutil.Process]:
        assert self.proc is not None
        parent = psutil.Process(self.proc.pid)
        return [parent, *parent.children(recursive=True)]

    def rss_mb(self) -> float:
        """Resident memory of the server and its worker processes, in MB."""
        total = 0
        for proc in self.processes():
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total / 1e6

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.processes():
            try:
                total += sum(proc.cpu_times()[:2])
            except psutil.NoSuchProcess:
                continue
        return total

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
