"""A known two-day workload for the report tests, and a real SMTP server.

(No conftest.py here: test modules elsewhere import ``conftest`` by name.)"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from itertools import count
from typing import Any

from aiosmtpd.controller import Controller

from chatwatch.events import Event, Feedback, LLMCall, Turn
from chatwatch.store import Store

DAY = date(2026, 3, 10)
DAY_START = datetime(2026, 3, 10, tzinfo=UTC).timestamp()
_ids = count()


def _id(prefix: str) -> str:
    return f"{prefix}{next(_ids):08d}"


def fill(store: Store) -> None:
    """Day before: 50 turns, 1 failed, 800 ms. The day: 100 turns (8 failed) spread over
    hours 8-17, 1200 ms, topics billing 60 / shipping 40, LLM calls on two models."""
    events: list[Event] = []
    before = DAY_START - 86400
    for i in range(50):
        events.append(
            Turn(
                id=_id("b"),
                ts=datetime.fromtimestamp(before + 3600 + i, UTC),
                type="turn",
                service="sophie",
                response_time_ms=800,
                success=i != 0,
                topic="billing",
                tokens=500,
            )
        )
    for i in range(100):
        ts = datetime.fromtimestamp(DAY_START + (8 + i // 10) * 3600 + i, UTC)
        events.append(
            Turn(
                id=_id("t"),
                ts=ts,
                type="turn",
                service="sophie",
                response_time_ms=1200,
                success=i % 10 != 9 or i >= 80,
                error_type="Timeout" if i % 10 == 9 else None,
                cached=i % 4 == 0,
                topic="billing" if i < 60 else "shipping",
                tokens=600,
                rag_used=True,
                rag_found=i % 20 != 0,
            )
        )
    for i in range(60):
        ts = datetime.fromtimestamp(DAY_START + 9 * 3600 + i, UTC)
        model, latency = (
            ("llama-3.1-8b-instant", 600.0) if i < 40 else ("llama-3.3-70b-versatile", 1800.0)
        )
        events.append(
            LLMCall(
                id=_id("l"),
                ts=ts,
                type="llm_call",
                service="sophie",
                model=model,
                latency_ms=latency,
                input_tokens=400,
                output_tokens=100,
                cost_usd=0.01,
            )
        )
    for i, stars in enumerate([5, 4, 4, 3, 5]):
        events.append(
            Feedback(
                id=_id("f"),
                ts=datetime.fromtimestamp(DAY_START + 36000 + i, UTC),
                type="feedback",
                service="sophie",
                rating=stars,
            )
        )
    store.ingest(events)


@dataclass
class Outbox:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)


def report_database(path: str) -> str:
    """A SQLite database at ``path`` holding the two-day workload; its URL."""
    url = f"sqlite:///{path}"
    store = Store(url)
    fill(store)
    store.close()
    return url


class _Handler:
    def __init__(self, box: Outbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        self.box.messages.append(parsed)  # type: ignore[arg-type]
        return "250 OK"


@contextmanager
def running_mail() -> Iterator[Outbox]:
    """A real SMTP server on a free port, recording what it receives."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    box = Outbox(port)
    controller = Controller(_Handler(box), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
