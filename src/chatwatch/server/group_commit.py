"""Group commit: concurrent ingest requests share one write transaction.

Each request hands its validated batch to one writer thread and awaits the result; the
writer takes every batch waiting (up to ``max_events``), writes them in one transaction
and answers each request after the commit. One commit and one set of rollup upserts
serve many requests, and the event loop keeps parsing the next requests meanwhile
(SQLite releases the GIL while it works). A request is still answered only once its own
events are committed; if a shared transaction fails, each batch is retried alone so one
bad batch cannot fail the others.

Rollup increments go to the store's journal with each group and are folded into the
rollups once ``fold_events`` events or ``fold_after_s`` seconds have gathered (and when
the writer goes idle): under load, one set of rollup upserts then serves many groups.
Reads fold the journal themselves first, so this only bounds how much waits there. A
fold's cost is mostly one upsert per distinct rollup key and session, which grows far
slower than the events folded: folding every 5 s instead of every second cut the server's
CPU per event by a few µs at 15 000 events/s (bench/ingest.py), and a read that meets 5 s
of journal folds it in a fraction of a second. The increments this process journalled
wait in memory until the fold, so ``fold_events`` also bounds the server's memory: at
200 000 its peak under load was 213-223 MB, at 50 000 181 MB, for ~3 µs more CPU per
event (bench/ingest.py, 1 M events).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from chatwatch.store import IngestResult, Store
from chatwatch.store.writer import Prepared

__all__ = ["WRITER_THREAD", "GroupWriter"]

log = logging.getLogger("chatwatch.server")
_IDLE_EXIT_S = 5.0  # the thread stops when idle this long and restarts on demand
WRITER_THREAD = "chatwatch-write"  # its name in top -H and /proc (15 characters at most)


def name_os_thread(name: str) -> None:
    """Give the calling thread ``name`` in the operating system too (Linux), so its CPU
    can be told apart from the request threads' (bench/ingest.py, top -H); elsewhere,
    or where /proc cannot be written, nothing happens."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as comm:
            comm.write(name[:15])
    except OSError:
        pass


@dataclass
class _Job:
    batch: Prepared
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[IngestResult]


class GroupWriter:
    """Writes batches for a store from one thread, several per transaction."""

    def __init__(
        self,
        store: Store,
        *,
        max_events: int = 20_000,
        fold_events: int = 50_000,
        fold_after_s: float = 5.0,
    ) -> None:
        self.store = store
        self.max_events = max_events
        self.fold_events = fold_events
        self.fold_after_s = fold_after_s
        self._jobs: list[_Job] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._unfolded = 0  # events journalled since the last fold
        self._unfolded_since = 0.0
        self._closing = False

    async def ingest(self, batch: Prepared) -> IngestResult:
        """Store a prepared batch; returns once it is committed."""
        loop = asyncio.get_running_loop()
        job = _Job(batch, loop, loop.create_future())
        with self._cond:
            if self._closing:
                raise RuntimeError("the ingest writer is closed")
            self._jobs.append(job)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="chatwatch-ingest", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return await job.future

    def _take(self) -> list[_Job] | None:
        """The next group; [] when the journal is due to be folded first, None when the
        writer has been idle long enough to stop."""
        with self._cond:
            while not self._jobs:
                if self._closing:
                    if self._unfolded:
                        return []
                    self._thread = None
                    return None
                if self._unfolded:
                    due = self._unfolded_since + self.fold_after_s - time.monotonic()
                    if due <= 0 or not self._cond.wait_for(self._woken, due):
                        return []
                elif not self._cond.wait_for(self._woken, _IDLE_EXIT_S):
                    self._thread = None
                    return None
            group: list[_Job] = []
            size = 0
            while self._jobs and (not group or size + self._jobs[0].batch.size <= self.max_events):
                job = self._jobs.pop(0)
                group.append(job)
                size += job.batch.size
            return group

    def _woken(self) -> bool:
        return bool(self._jobs) or self._closing

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, fold the journal and stop the thread (server shutdown)."""
        with self._cond:
            self._closing = True
            thread = self._thread
            self._cond.notify()
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        name_os_thread(WRITER_THREAD)
        while (group := self._take()) is not None:
            try:
                if group:
                    self._write(group)
                if self._unfolded and (
                    not group
                    or self._unfolded >= self.fold_events
                    or time.monotonic() - self._unfolded_since >= self.fold_after_s
                ):
                    self._fold()
            except BaseException:  # never leave a request waiting forever
                log.exception("chatwatch: ingest writer failed")
                for job in group:
                    _settle(job, RuntimeError("ingest failed"))

    def _fold(self) -> None:
        try:
            self.store.fold_journal()
        except Exception:  # the journal keeps the rows; the next fold or read applies them
            log.exception("chatwatch: folding the rollup journal failed")
        self._unfolded = 0

    def _write(self, group: list[_Job]) -> None:
        try:
            results = self.store.ingest_prepared([job.batch for job in group], defer=True)
        except Exception as exc:
            if len(group) == 1:
                _settle(group[0], exc)
                return
            for job in group:  # alone, so a bad batch fails only its own request
                job.batch = job.batch.again()  # writing consumed it
                self._write([job])
            return
        accepted = sum(result.accepted for result in results)
        if accepted:
            if not self._unfolded:
                self._unfolded_since = time.monotonic()
            self._unfolded += accepted
        _settle_all(list(zip(group, results, strict=True)))


def _settle(job: _Job, outcome: IngestResult | BaseException) -> None:
    _settle_all([(job, outcome)])


def _settle_all(outcomes: list[tuple[_Job, IngestResult | BaseException]]) -> None:
    """Answer the waiting requests, one wake-up per event loop (not one per request)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, Any]]] = {}
    for job, outcome in outcomes:
        by_loop.setdefault(job.loop, []).append((job, outcome))

    def apply(pairs: list[tuple[_Job, Any]]) -> None:
        for job, outcome in pairs:
            if job.future.done():
                continue
            if isinstance(outcome, BaseException):
                job.future.set_exception(outcome)
            else:
                job.future.set_result(outcome)

    for loop, pairs in by_loop.items():
        # RuntimeError: the request's event loop is gone (the server is shutting down)
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(apply, pairs)
