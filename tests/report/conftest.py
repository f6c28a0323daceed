"""Report fixtures: a store with the known two-day workload, a real SMTP server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from report_helpers import Outbox, fill

from chatwatch.store import Store


@pytest.fixture
def report_db(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'report.db'}"
    store = Store(url)
    fill(store)
    store.close()
    yield url


class _Handler:
    def __init__(self, box: Outbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        self.box.messages.append(parsed)  # type: ignore[arg-type]
        return "250 OK"


@pytest.fixture
def mail_server() -> Iterator[Outbox]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    box = Outbox(port)
    controller = Controller(_Handler(box), hostname="127.0.0.1", port=port)
    controller.start()
    yield box
    controller.stop()
