"""Failed dashboard logins, counted so a password cannot be guessed at speed.

Per client address and user name: after ``limit`` failures within ``window_s`` that pair
must wait until the oldest failure leaves the window; per address alone, four times as
many. Keyed by address, a guesser elsewhere cannot lock the real admin out. Counts live in
the server process (each replica counts its own), bounded to ``max_keys`` keys.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["LoginThrottle"]


class LoginThrottle:
    def __init__(
        self,
        limit: int = 5,
        window_s: float = 900.0,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self.clock = clock
        self._failures: OrderedDict[tuple[str, ...], deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _keys(self, address: str, username: str) -> list[tuple[tuple[str, ...], int]]:
        return [((address, username.casefold()), self.limit), ((address,), self.limit * 4)]

    def retry_after(self, address: str, username: str) -> float:
        """Seconds this address must wait before trying ``username`` again (0: may try)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key, limit in self._keys(address, username):
                times = self._failures.get(key)
                if times is None:
                    continue
                while times and times[0] <= now - self.window_s:
                    times.popleft()
                if len(times) >= limit:
                    wait = max(wait, times[0] + self.window_s - now)
        return wait

    def failed(self, address: str, username: str) -> None:
        now = self.clock()
        with self._lock:
            for key, limit in self._keys(address, username):
                times = self._failures.setdefault(key, deque(maxlen=limit))
                times.append(now)
                self._failures.move_to_end(key)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, address: str, username: str) -> None:
        with self._lock:
            self._failures.pop((address, username.casefold()), None)
