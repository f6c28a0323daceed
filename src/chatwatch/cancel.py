"""Cancelling a read whose client left (or whose server is stopping).

A read runs in a worker thread; the request handler that started it holds a
``threading.Event`` and sets it when the client disconnects or the handler is cancelled
(a server shutting down after its grace period). The read sees it through a context
variable and stops at its next check: between buckets of a series and before each query
of the store, so a read never outlives its request by more than one bucket or query.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["ReadCancelled", "cancellable", "check"]

_TOKEN: ContextVar[threading.Event | None] = ContextVar("chatwatch_read_token", default=None)


class ReadCancelled(BaseException):
    """The read's client left or the server is stopping: nobody waits for the answer.

    A BaseException, like asyncio's CancelledError: code that catches ``Exception`` to
    log a failed read and go on must not swallow it."""


def check() -> None:
    """Raise ReadCancelled when the current read was cancelled; nearly free otherwise."""
    token = _TOKEN.get()
    if token is not None and token.is_set():
        raise ReadCancelled


@contextmanager
def cancellable(token: threading.Event) -> Iterator[None]:
    """Run the block as a read that ``token`` cancels."""
    reset = _TOKEN.set(token)
    try:
        yield
    finally:
        _TOKEN.reset(reset)
