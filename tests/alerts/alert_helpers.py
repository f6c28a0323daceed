"""Helpers shared by the alert and report tests: a fixed clock and workloads written at
chosen times."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from itertools import count
from typing import Any

from chatwatch.config import Settings
from chatwatch.events import Event, Feedback, LLMCall, Turn
from chatwatch.store import Store

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC: a fixed clock, minute-aligned
_ids = count()


def turns(
    store: Store,
    at: float,
    n: int,
    failed: int = 0,
    *,
    service: str = "api",
    response_time_ms: float = 400.0,
) -> None:
    """``n`` turns at ``at`` (UNIX seconds), the first ``failed`` of them failed."""
    ts = datetime.fromtimestamp(at, UTC)
    events: list[Event] = [
        Turn(
            id=f"t{next(_ids):08d}",
            ts=ts,
            type="turn",
            service=service,
            response_time_ms=response_time_ms,
            success=i >= failed,
            error_type="LLMTimeout" if i < failed else None,
        )
        for i in range(n)
    ]
    store.ingest(events)


def llm_calls(store: Store, at: float, n: int, model: str, latency_ms: float) -> None:
    ts = datetime.fromtimestamp(at, UTC)
    store.ingest(
        [
            LLMCall(
                id=f"l{next(_ids):08d}",
                ts=ts,
                type="llm_call",
                service="api",
                model=model,
                latency_ms=latency_ms,
            )
            for _ in range(n)
        ]
    )


def ratings(store: Store, at: float, stars: list[int]) -> None:
    ts = datetime.fromtimestamp(at, UTC)
    store.ingest(
        [
            Feedback(id=f"f{next(_ids):08d}", ts=ts, type="feedback", service="api", rating=s)
            for s in stars
        ]
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_settings(url: str, **overrides: Any) -> Settings:
    return Settings(database_url=url, _env_file=None, **overrides)  # type: ignore[call-arg]


@dataclass
class Mailbox:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]


@dataclass
class Receiver:
    url: str
    status: int = 200
    bodies: list[dict[str, Any]] = field(default_factory=list)
