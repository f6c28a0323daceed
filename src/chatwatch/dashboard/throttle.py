"""Logins that cannot be flooded: attempts counted before the password is hashed, and the
hashes run a few at a time on their own threads.

``LoginThrottle`` counts every attempt in the database (``chatwatch.server.attempts``),
so replicas share the counts and concurrent attempts cannot slip past a check-then-act
race: per client address (the real client behind a trusted proxy) and per user name,
whose window doubles while the name keeps being over its limit. A success clears the
name's count. ``HashPool`` runs each admitted login (the count, then argon2: 64 MiB and
tens of milliseconds, four lanes, per hash) on ``workers`` threads of its own, with at
most ``pending`` logins admitted at once; beyond that a login is refused at once (429,
nothing counted or hashed), so a flood cannot grow memory or delay API-key checks and
ingest, which use other threads.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from chatwatch.server.attempts import Limit, clear, count, key_of
from chatwatch.store import Store

__all__ = ["PER_ADDRESS", "PER_NAME", "HashPool", "LoginThrottle", "PoolBusy"]

T = TypeVar("T")

PER_ADDRESS = (20, 900.0)  # attempts per client address per 15 minutes, any names
PER_NAME = (10, 900.0)  # attempts per user name per window (the window doubles, up to a day)


class LoginThrottle:
    def __init__(
        self,
        store: Store,
        per_address: tuple[int, float] = PER_ADDRESS,
        per_name: tuple[int, float] = PER_NAME,
    ) -> None:
        self.store = store
        self.per_address = per_address
        self.per_name = per_name

    @staticmethod
    def name_key(username: str) -> str:
        return key_of("login-name", username.strip().casefold())

    def attempt(self, address: str, username: str, now: float | None = None) -> float:
        """Count this attempt (blocking: a database write); seconds to wait, 0: may try."""
        limits = [
            Limit(key_of("login-address", address), *self.per_address),
            Limit(self.name_key(username), *self.per_name, backoff=True),
        ]
        return count(self.store, limits, now)

    def succeeded(self, username: str) -> None:
        clear(self.store, [self.name_key(username)])


class PoolBusy(Exception):
    """Already ``pending`` hashes admitted: the caller answers 429."""


class HashPool:
    def __init__(self, workers: int = 1, pending: int = 3) -> None:
        self.pending = pending
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="chatwatch-login")
        self._admitted = 0
        self._peak = 0
        self._lock = threading.Lock()

    @property
    def peak(self) -> int:
        """The most hashes admitted at once so far."""
        return self._peak

    def _release(self) -> None:
        with self._lock:
            self._admitted -= 1

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the pool; PoolBusy when ``pending`` are admitted already. The slot
        is freed when ``fn`` ends, even if the caller has gone."""
        with self._lock:
            if self._admitted >= self.pending:
                raise PoolBusy
            self._admitted += 1
            self._peak = max(self._peak, self._admitted)

        def job() -> T:
            try:
                return fn()
            finally:
                self._release()

        try:
            future = self._executor.submit(job)
        except RuntimeError:  # shut down
            self._release()
            raise
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
