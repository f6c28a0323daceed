"""A flood of wrong logins from its own process (``python -c FLOOD_SCRIPT URL N ROUND``):
N concurrent attempts, each for its own name (``user{ROUND}-{i}``) from its own forwarded
address; prints "flooding" once they are under way, then every answer's status. Shared by
the login-memory test and ``bench/auth.py``, so the bench measures what the test bounds."""

from __future__ import annotations

import threading
import time

import psutil

__all__ = ["FLOOD_SCRIPT", "PeakRss"]

FLOOD_SCRIPT = """
import asyncio, sys, httpx
url, n, round_ = sys.argv[1], int(sys.argv[2]), sys.argv[3]

async def main():
    limits = httpx.Limits(max_connections=n + 5)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        form = await http.get("/analytics/login")
        token = form.text.split('name="csrf_token" value="')[1].split('"')[0]

        async def attempt(i):
            data = {"username": f"user{round_}-{i}", "password": "x" * 12, "csrf_token": token}
            headers = {"X-Forwarded-For": f"198.51.{i // 250}.{i % 250 + 1}"}
            answer = await http.post("/analytics/login", data=data, headers=headers)
            return answer.status_code

        tasks = [asyncio.ensure_future(attempt(i)) for i in range(n)]
        await asyncio.sleep(0.05)
        print("flooding", flush=True)
        statuses = await asyncio.gather(*tasks)
        print(" ".join(map(str, statuses)), flush=True)

asyncio.run(main())
"""


class PeakRss:
    """The server's resident memory (its worker processes included), every 10 ms."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        total = 0
        for proc in [self.process, *self.process.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.01)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
