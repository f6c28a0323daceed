"""A tiny HTTP receiver on a free port, standing in for the chatwatch server (a module of
its own so tests can import it; ``from conftest import`` breaks when several test
directories' conftests are collected together)."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Batch = list[dict[str, Any]]
Responder = Callable[[Batch], tuple[int, dict[str, Any]]]


@dataclass(frozen=True)
class Request:
    status: int
    path: str
    headers: dict[str, str]
    batch: Batch


def accept_all(batch: Batch) -> tuple[int, dict[str, Any]]:
    return 202, {"accepted": len(batch), "duplicates": 0}


class Receiver:
    """Stands in for the chatwatch server's ``POST /api/v1/events``; startable later."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.respond: Responder = accept_all
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                batch = json.loads(body)
                status, payload = receiver.respond(batch)
                with receiver._lock:
                    receiver.requests.append(Request(status, self.path, dict(self.headers), batch))
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,))
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
        self._server = None

    @property
    def accepted(self) -> Batch:
        """Events in requests answered 2xx, in arrival order."""
        with self._lock:
            return [e for r in self.requests if r.status < 300 for e in r.batch]
