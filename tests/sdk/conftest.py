"""SDK fixtures: clients that are always closed, and a tiny HTTP receiver on a free port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sdk_receiver import Receiver

from chatwatch.sdk import Client
from chatwatch.sdk.turn import _current, _last


@pytest.fixture(autouse=True)
def _no_turn_left_behind() -> Iterator[None]:
    """A turn run here stays this test's: ``last_turn()`` keeps the last one of the thread's
    context after it ends, which a later test (the Sentry hook's, run in the same
    process) would otherwise see as its own."""
    current, last = _current.set(None), _last.set(None)
    yield
    _last.reset(last)
    _current.reset(current)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def make_client() -> Iterator[Callable[..., Client]]:
    """Clients with test-friendly timings, closed after the test."""
    clients: list[Client] = []

    def make(**kwargs: Any) -> Client:
        kwargs.setdefault("flush_interval", 0.05)
        kwargs.setdefault("backoff_base", 0.01)
        kwargs.setdefault("max_backoff", 0.2)
        client = Client(**kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close(timeout=2)
