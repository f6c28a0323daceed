"""Live demo traffic: each stream's due calls made on a real SDK client, in a thread.

The calls are the ones an assistant would make (``record_turn``, ``llm_call``,
``rag_search``, ``connect`` ...), so the events travel the whole way a real app's do:
SDK queue, background batches, HTTP, ingest, rollups.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from chatwatch.demo.history import Stream
from chatwatch.sdk import Client

__all__ = ["LiveTraffic"]

log = logging.getLogger("chatwatch.demo")


class LiveTraffic:
    """Replays the streams' calls as their time comes, checking ``interval`` times a second."""

    def __init__(self, pairs: Sequence[tuple[Stream, Client]], *, interval: float = 0.1) -> None:
        self.pairs = list(pairs)
        self.interval = interval
        self.calls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chatwatch-demo", daemon=True)

    def start(self) -> LiveTraffic:
        self._thread.start()
        return self

    def stop(self, flush_timeout: float = 1.0) -> None:
        """Stop making calls and give the clients ``flush_timeout`` s to send what is queued."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        # What is still queued when the server is already gone is demo traffic: no warning.
        logging.getLogger("chatwatch.sdk").setLevel(logging.ERROR)
        for _, client in self.pairs:
            client.close(timeout=flush_timeout)

    def tick(self) -> int:
        """Make every call due now; returns how many were made."""
        made = 0
        for stream, client in self.pairs:
            for call in stream.traffic.advance():
                getattr(client, call.method)(**call.kwargs)
                made += 1
        self.calls += made
        return made

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # a demo generator bug must not take the server down
                log.exception("demo traffic failed; continuing")
