"""Helpers for the framework tests: the chatwatch server handle, servers in subprocesses
(daphne, uvicorn) and the test Django project's environment (a module of its own:
importing ``conftest`` by name is ambiguous)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from live_server import free_port

HERE = Path(__file__).parent


@dataclass
class Chatwatch:
    """A running chatwatch server and how to read it."""

    url: str
    ingest_key: str
    read_key: str
    db_path: Path
    http: httpx.Client = field(repr=False)

    def get(self, path: str, **params: str) -> Any:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json() if "json" in response.headers["content-type"] else response.text

    def metrics(self, **params: str) -> dict[str, float | None]:
        """/api/v1/metrics as name -> value."""
        doc = self.get("/api/v1/metrics", window="all", **params)
        return {name: m["value"] for name, m in doc["metrics"].items()}

    def prometheus(self, service: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """/metrics parsed by prometheus_client: (sample name, labels but service) -> value,
        for one service's samples."""
        out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for family in text_string_to_metric_families(self.get("/metrics")):
            for sample in family.samples:
                if sample.labels.get("service") != service:
                    continue
                labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "service"))
                out[(sample.name, labels)] = sample.value
        return out


def prom_sum(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


@dataclass(frozen=True)
class Counts:
    """What a test drove, to be found exactly on every surface."""

    turns: int
    failed: int
    client_errors: int
    llm_calls: int
    tokens: int
    rag_searches: int
    sessions: int
    active_sessions: int


def surfaces(cw: Chatwatch, service: str) -> Counts:
    """The driven counts as each of /monitoring/metrics, /api/v1/metrics and /metrics says
    them; raises if the three disagree with each other (so one comparison checks all)."""
    doc = cw.get("/monitoring/metrics", service=service, window="all")
    chat, llm, rag = doc["chat"], doc["llm"], doc["rag"]
    v = cw.metrics(service=service)
    prom = cw.prometheus(service)
    seen = {
        "turns": (
            chat["total_requests"],
            v["total_requests"],
            prom_sum(prom, "chat_requests_total"),
        ),
        "successful": (
            chat["successful_requests"],
            v["successful_requests"],
            prom_sum(prom, "chat_requests_total") - prom_sum(prom, "chat_errors_total"),
        ),
        "failed": (
            chat["failed_requests"],
            v["failed_requests"],
            prom_sum(prom, "chat_errors_total"),
        ),
        "client_errors": (
            chat["client_errors"],
            v["client_errors"],
            prom_sum(prom, "chat_client_errors_total"),
        ),
        "llm_calls": (
            chat["llm_calls"],
            llm["total_calls"],
            v["llm_calls"],
            prom_sum(prom, "chat_llm_calls_total"),
        ),
        "tokens": (
            chat["llm_tokens_used"],
            llm["total_tokens"],
            v["llm_tokens_used"],
            v["llm_tokens"],
            prom_sum(prom, "chat_llm_tokens_total"),
            prom_sum(prom, "chat_request_tokens_total"),
        ),
        "rag_searches": (
            chat["rag_queries"],
            rag["total_searches"],
            v["rag_queries"],
            v["rag_searches"],
            prom_sum(prom, "chat_rag_searches_total"),
        ),
        # guide 003's /monitoring/metrics has no session figures
        "sessions": (v["sessions"], prom_sum(prom, "chat_sessions_total")),
        "active_sessions": (v["active_sessions"], prom_sum(prom, "chat_active_sessions")),
    }
    for name, values in seen.items():
        assert len({float(x or 0) for x in values}) == 1, f"{name} disagrees: {values}"
    first = {name: int(values[0] or 0) for name, values in seen.items()}
    assert first.pop("successful") == first["turns"] - first["failed"]
    return Counts(**first)


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll ``check`` until it is true (events cross a process and a batch interval)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Process:
    """A server in a subprocess (daphne, uvicorn) on a free port, its output in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        argv = [a.replace("{port}", str(self.port)) for a in args]
        with log.open("ab") as out:
            self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)

    def wait(self) -> Process:
        deadline = time.monotonic() + 60
        while not _listening(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {self.log.read_text()[-3000:]}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def django_env(tmp: Path, cw: Chatwatch, **extra: str) -> dict[str, str]:
    """The environment the test Django project (tests/integrations/djproject) reads."""
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    return {
        **os.environ,
        "PYTHONPATH": path,
        "DJANGO_SETTINGS_MODULE": "djproject.settings",
        "DJANGO_DB": str(tmp / "django.db"),
        "DJANGO_LOG_DIR": str(tmp / "logs"),
        "CHATWATCH_URL": cw.url,
        "CHATWATCH_API_KEY": cw.ingest_key,
        **extra,
    }


def setup_django(env: dict[str, str]) -> tuple[str, str]:
    """Migrate the project's database and log a user in: (session cookie, user pk)."""
    out = subprocess.run(
        [sys.executable, "-m", "djproject.setup_db"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, f"djproject.setup_db failed:\n{out.stderr}"
    session_key, pk = out.stdout.split()
    return session_key, pk


def daphne(env: dict[str, str], log: Path) -> Process:
    """daphne serving the project's asgi.py (not yet waited for)."""
    args = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", "{port}"]
    # a loaded machine may take more than the default 5 s to accept a first socket
    args += ["--websocket_connect_timeout", "60"]
    return Process([*args, "djproject.asgi:application"], env, log)
