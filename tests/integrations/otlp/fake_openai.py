"""A fake OpenAI-compatible server: chat completions (plain and streamed, with or without
the usage chunk), embeddings, and failures chosen by model name (``fail-500``, ``fail-429``).

Replies carry a dated response model (``<model>-2024-08-06``), as OpenAI's do, so tests
see whether a call is grouped by the model requested.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROMPT_TOKENS = 11
COMPLETION_TOKENS = 7
EMBEDDING_TOKENS = 5


def _usage() -> dict[str, int]:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
    }


def dated(model: str) -> str:
    return f"{model}-2024-08-06"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        model = request.get("model", "")
        if model.startswith("fail-"):
            status = int(model.removeprefix("fail-"))
            self._send(status, {"error": {"message": "boom", "type": "server_error"}})
        elif self.path.endswith("/embeddings"):
            self._send(
                200,
                {
                    "object": "list",
                    "model": dated(model),
                    "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
                    "usage": {"prompt_tokens": EMBEDDING_TOKENS, "total_tokens": EMBEDDING_TOKENS},
                },
            )
        elif request.get("stream"):
            self._stream(model, bool((request.get("stream_options") or {}).get("include_usage")))
        else:
            self._send(200, self._completion(model))

    def _completion(self, model: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": dated(model),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "hello there"},
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(),
        }

    def _stream(self, model: str, include_usage: bool) -> None:
        base = {"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 0}
        chunks: list[dict[str, Any]] = [
            {
                **base,
                "model": dated(model),
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": word}}],
            }
            for word in ("hello", " there")
        ]
        chunks.append(
            {
                **base,
                "model": dated(model),
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
        )
        if include_usage:
            chunks.append({**base, "model": dated(model), "choices": [], "usage": _usage()})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


class FakeOpenAI:
    """The server on a free loopback port, in a daemon thread."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
