"""Running a read off the event loop so that it stops when its client leaves.

``run_read`` runs the read in the thread pool and watches the connection meanwhile: a
client that disconnects, or a request task cancelled (a server stopping after its grace
period), sets the read's token and the read stops at its next check (chatwatch.cancel).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from chatwatch.cancel import ReadCancelled, cancellable

__all__ = ["ClientGone", "client_gone", "run_read"]

_T = TypeVar("_T")
POLL_S = 0.25


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
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=POLL_S)
            if done:
                try:
                    return task.result()
                except ReadCancelled:
                    raise ClientGone from None
            if await request.is_disconnected():
                raise ClientGone
    finally:
        if not task.done():
            token.set()
            task.add_done_callback(_quiet)
