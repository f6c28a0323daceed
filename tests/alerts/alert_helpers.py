"""Helpers for the alert tests: a fixed clock, workloads written at chosen times, and
a real SMTP server (aiosmtpd) and a real HTTP receiver, each on a free port.

(No conftest.py here: test modules elsewhere import ``conftest`` by name, and a second
conftest module would shadow the root one for them.)"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any

from aiosmtpd.controller import Controller

from chatwatch.config import Settings
from chatwatch.events import Event, Feedback, LLMCall, Turn
from chatwatch.store import Store
from live_server import free_port

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


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        self.box.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"


class _Auth:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        login, password = data.login.decode(), data.password.decode()
        self.box.logins.append((login, password))
        return AuthResult(success=password == "s3cret-pass")


@contextmanager
def running_smtp(
    tls_context: ssl.SSLContext | None = None, implicit: bool = False
) -> Iterator[Mailbox]:
    """A real SMTP server on a free port. Plain with AUTH allowed by default; with a TLS
    context, STARTTLS is required (or, ``implicit``, the connection is TLS from the start)
    and AUTH only works over TLS."""
    box = Mailbox(port=free_port())
    options: dict[str, Any] = {"authenticator": _Auth(box), "auth_require_tls": False}
    if tls_context is not None and implicit:
        options.update(ssl_context=tls_context)  # all TLS; aiosmtpd cannot tell, so no flag
    elif tls_context is not None:
        options.update(tls_context=tls_context, require_starttls=True, auth_require_tls=True)
    controller = Controller(_Handler(box), hostname="127.0.0.1", port=box.port, **options)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    """A real local HTTP server recording JSON POST bodies."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    rec = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hook")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            rec.bodies.append(json.loads(body))
            self.send_response(rec.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()
