"""Sentry against a local envelope listener: what FastAPI, Django and Channels apps set up
as the README says send to Sentry. No chat text, cookie or key in any envelope, and the
run tags on every error, however late it was captured."""

from __future__ import annotations

import gzip
import json
import sys
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from integ_servers import HERE, Chatwatch, Process, daphne, django_env, setup_django, wait_for
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

pytestmark = pytest.mark.slow
SECRET_TEXT = "my card number is 4242 and I live at Elm Street"


class Listener:
    """Receives the DSN's envelope POSTs and keeps their decoded bodies."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    raw = gzip.decompress(raw)
                elif encoding == "deflate":
                    raw = zlib.decompress(raw)
                listener.bodies.append(raw)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.dsn = f"http://publickey@127.0.0.1:{self.port}/1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict[str, Any]]:
        """The error events of every envelope (item type ``event``)."""
        found = []
        for body in self.bodies:
            lines = body.split(b"\n")
            for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                if json.loads(header).get("type") == "event":
                    found.append(json.loads(payload))
        return found


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture(scope="module")
def apps(
    listener: Listener, chatwatch_server: Chatwatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Process, Process, str]]:
    tmp = tmp_path_factory.mktemp("sentry")
    env = django_env(tmp, chatwatch_server, SENTRY_DSN=listener.dsn, ENVIRONMENT="test")
    cookie, _ = setup_django(env)
    django_site = daphne(env, tmp / "daphne.log")
    args = [sys.executable, "-m", "uvicorn", "--port", "{port}", "sentry_fastapi_app:app"]
    fastapi_site = Process(
        args, {**env, "PYTHONPATH": f"{HERE}:{env['PYTHONPATH']}"}, tmp / "u.log"
    )
    try:
        yield fastapi_site.wait(), django_site.wait(), cookie
    finally:
        fastapi_site.stop()
        django_site.stop()


def test_no_secrets_and_run_tags_on_every_error(
    apps: tuple[Process, Process, str], listener: Listener, chatwatch_server: Chatwatch
) -> None:
    """FastAPI crash, a late log.exception, a Django view crash and a Channels consumer
    crash, all with the chat text, a session cookie and an API key in the request: four
    error events, each tagged with its run, none carrying a secret."""
    fastapi_site, django_site, cookie = apps
    secret_headers = {
        "Cookie": f"sessionid={cookie}; csrftoken=abcdefabcdef",
        "Authorization": f"Bearer {chatwatch_server.ingest_key}",
        "x-session-id": "sentry-1",
        "connection": "close",
    }
    with httpx.Client(timeout=20, headers=secret_headers) as http:
        body = {"message": SECRET_TEXT}
        assert http.post(f"{fastapi_site.url}/chat", json=body).status_code == 500
        assert http.post(f"{fastapi_site.url}/jobs/summarize", json=body).status_code == 200
        django_body = {"message": f"crash {SECRET_TEXT}"}
        assert http.post(f"{django_site.url}/chat/api/ask/", json=django_body).status_code == 500
    ws_url = django_site.url.replace("http", "ws") + "/ws/chat/sentry-ws/"
    with connect(ws_url, additional_headers={"Cookie": f"sessionid={cookie}"}) as ws:
        ws.send(f"crash {SECRET_TEXT}")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=20)

    def four_errors() -> bool:
        return len({e["event_id"] for e in listener.events()}) >= 4

    assert wait_for(four_errors, 30), [e.get("logger") for e in listener.events()]
    raw = b"\n".join(listener.bodies).decode("utf-8", "replace")
    for secret in (
        SECRET_TEXT,
        "4242 and I live",
        cookie,
        "abcdefabcdef",
        chatwatch_server.ingest_key,
        chatwatch_server.read_key,
    ):
        assert secret not in raw
    errors = listener.events()
    untagged = [
        (e.get("logger"), e.get("transaction"))
        for e in errors
        if "chatwatch.run_id" not in e.get("tags", {})
    ]
    assert not untagged
    sessions = {e["tags"].get("chatwatch.session_id") for e in errors}
    assert {"sentry-1", "job-1", "sentry-ws"} <= sessions
