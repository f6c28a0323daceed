"""Running a read off the event loop so that it stops when its client leaves.

``run_read`` runs the read in the thread pool and watches the connection meanwhile: a
client that disconnects, or a request task cancelled (a server stopping after its grace
period), sets the read's token and the read stops at its next check (chatwatch.cancel).
``cancel_all`` sets every running read's token at once: a server whose grace period ends
calls it before cancelling the requests one by one (cli/serve.py).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from chatwatch.cancel import ReadCancelled, cancellable

__all__ = ["ClientGone", "cancel_all", "client_gone", "run_read"]

_T = TypeVar("_T")
POLL_S = 0.25


class _Reads:
    """An app's reads under way (event loop only), and whether it is stopping."""

    def __init__(self) -> None:
        self.running: set[threading.Event] = set()
        self.stopping = False


def _reads_of(app: Any) -> _Reads:
    found = getattr(app.state, "chatwatch_reads", None)
    if found is None:
        found = app.state.chatwatch_reads = _Reads()
    return found


def cancel_all(app: Any) -> int:
    """Cancel every running read of ``app`` (each stops at its next check, answered 503:
    the server is stopping); how many there were."""
    reads = _reads_of(app)
    reads.stopping = True
    tokens = list(reads.running)
    for token in tokens:
        token.set()
    return len(tokens)


class ClientGone(Exception):
    """The client disconnected before its read was done (nothing left to answer)."""


async def client_gone(_request: Request, _exc: Exception) -> Response:
    """Nobody reads the answer; 499 (nginx's "client closed request") marks the access log."""
    return Response(status_code=499)


def _quiet(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # a read cancelled after its client left: retrieved, not logged


async def run_read(request: Request, fn: Callable[..., _T], *args: Any) -> _T:
    token = threading.Event()

    def call() -> _T:
        with cancellable(token):
            return fn(*args)

    task = asyncio.ensure_future(run_in_threadpool(call))
    reads = _reads_of(request.app)
    reads.running.add(token)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=POLL_S)
            if done:
                try:
                    return task.result()
                except ReadCancelled:
                    if reads.stopping:
                        raise HTTPException(
                            503, "the server is stopping; retry", {"Retry-After": "1"}
                        ) from None
                    raise ClientGone from None
            if await request.is_disconnected():
                raise ClientGone
    finally:
        reads.running.discard(token)
        if not task.done():
            token.set()
            task.add_done_callback(_quiet)
