"""The queue between the app and the network, and the thread that empties it.

``put`` is the only code the app's threads run: one ``deque.append`` (the deque's
``maxlen`` drops the oldest event when full), one counter tick, one length test and,
rarely, a wake-up (no lock: CPython's deque and itertools.count are atomic). All
sending, retrying and logging happens on the background thread, or in ``close`` when no
thread can run (interpreter shutdown, a forked child that never started one).
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from typing import Any

from chatwatch.logsafe import clean
from chatwatch.sdk.transports import RejectedBatch, RetryAfter, ServerError, Transport

__all__ = ["Sender"]

log = logging.getLogger("chatwatch.sdk")
Batch = list[dict[str, Any]]
_live: weakref.WeakSet[Sender] = weakref.WeakSet()
# A batch failing with a 5xx this many times in a row is split in halves; one event alone
# is dropped after as many once another delivery succeeded meanwhile (so the fault is in
# it, not the server), or after _DROP_ALONE_AFTER tries with no such evidence.
_SPLIT_AFTER = 3
_DROP_ALONE_AFTER = 8
_THREAD = "chatwatch-sdk"
DROP_REPORT_EVERY = 60.0  # seconds between two warnings about events dropped


class _QuietSender(logging.Filter):
    """httpx logs an INFO line per request: the sender's batches stay out of the app's log
    (its warnings and errors still pass)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != _THREAD or record.levelno >= logging.WARNING


logging.getLogger("httpx").addFilter(_QuietSender())


def _peek(counter: itertools.count[int]) -> int:
    """The next value of an ``itertools.count`` without advancing it."""
    return int(repr(counter)[6:-1])


class Sender:
    def __init__(
        self,
        transport: Transport,
        *,
        max_queue: int,
        batch_size: int,
        flush_interval: float,
        backoff_base: float,
        max_backoff: float,
    ) -> None:
        self.transport = transport
        self.batch_size = max(1, batch_size)
        self.flush_interval = flush_interval
        self.backoff_base = backoff_base
        self.max_backoff = max_backoff
        self._max_queue = max(1, max_queue)
        self._closed = False
        self._reset()
        _live.add(self)

    def _reset(self) -> None:
        """Fresh state: at start, and in a forked child (whose copies belong to the parent)."""
        # events as dicts, or tuples (maker, *values) from the hot record calls
        self.queue: deque[Any] = deque(maxlen=self._max_queue)
        self._recorded = itertools.count()
        self._taken = self._sent = self._rejected = self._retries = self._lost = 0
        self._inflight = 0
        self._busy = False
        self._failing = False
        self._warned_reject = False
        self._warned_poison = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._done = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._started = self._closed
        self._wake_at = 0  # the queue length at which put() calls _nudge()
        self._deadline = float("inf")
        self._drops_reported = 0
        self._drops_reported_at = -DROP_REPORT_EVERY

    # -- the app's side ---------------------------------------------------------------

    def put(self, event: dict[str, Any] | tuple[Any, ...]) -> None:
        q = self.queue
        q.append(event)
        # counted after it is queued: stats() never sees a recorded event neither queued
        # nor taken, which it would count as dropped
        next(self._recorded)
        if len(q) >= self._wake_at:  # 0 until the thread runs: one test for both cases
            self._nudge()

    def _nudge(self) -> None:
        """Start the thread (first event), or wake it: a batch is waiting."""
        if not self._started:
            self._start()
        if self._started:
            self._wake_at = self.batch_size
        if len(self.queue) >= self.batch_size and not self._wake.is_set():
            self._wake.set()

    def stats(self) -> dict[str, int]:
        """Counts since start; exact when no record call is in progress."""
        recorded = _peek(self._recorded)
        taken = self._taken
        waiting = len(self.queue)
        return {
            "recorded": recorded,
            "queued": waiting + self._inflight,
            "sent": self._sent,
            "dropped": max(0, recorded - taken - waiting),
            "rejected": self._rejected,
            "retries": self._retries,
            "lost": self._lost,
        }

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far is delivered or rejected; False on timeout."""
        deadline = time.monotonic() + timeout
        if not self._alive():
            return not self.queue and not self._busy
        while self.queue or self._busy:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._wake.set()
            with self._done:
                self._done.wait(min(remaining, 0.05))
        return True

    def close(self, timeout: float) -> None:
        """Deliver what is queued (within ``timeout`` seconds), then stop for good."""
        with self._lock:
            if self._closed:
                return
            self._closed = self._started = True
            self._deadline = time.monotonic() + timeout
            thread = self._thread
        self._stop.set()
        self._wake.set()
        if thread is not None and thread.is_alive():
            if thread is not threading.current_thread():
                thread.join(timeout + 0.5)
        else:
            self._drain()
        self._count_left_at_close()
        self._report_drops(force=True)
        close = getattr(self.transport, "close", None)
        if callable(close):
            try:
                close()
            except Exception:
                log.debug("chatwatch: closing the transport failed", exc_info=True)

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            thread = threading.Thread(target=self._run, name=_THREAD, daemon=True)
            try:
                thread.start()
            except RuntimeError:  # interpreter shutdown: close() will send inline
                log.debug("chatwatch: cannot start the sender thread", exc_info=True)
                return
            self._thread = thread
            self._started = True

    def _alive(self) -> bool:
        if not self._started:
            self._start()
        return self._thread is not None and self._thread.is_alive()

    # -- the background side ----------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self._drain()
            self._report_drops()
        self._drain()

    def _report_drops(self, force: bool = False) -> None:
        """Warn (at most once a minute, and at close) how many events the full queue
        dropped since the last warning."""
        dropped = self.stats()["dropped"]
        new = dropped - self._drops_reported
        now = time.monotonic()
        if new <= 0 or (not force and now - self._drops_reported_at < DROP_REPORT_EVERY):
            return
        self._drops_reported, self._drops_reported_at = dropped, now
        log.warning(
            "chatwatch: %d events dropped: the queue was full (max_queue=%d; %d dropped in all)",
            new,
            self._max_queue,
            dropped,
        )

    def _count_left_at_close(self) -> None:
        """Events still queued when close() gave up are lost: counted and said."""
        left = 0
        q = self.queue
        while q:
            try:
                q.popleft()
            except IndexError:  # the sender thread took the last one
                break
            left += 1
        if left:
            self._taken += left
            self._lost += left
            log.warning("chatwatch: %d events still queued at close were lost", left)

    def _drain(self) -> None:
        q = self.queue
        try:
            while q and not self._past_deadline():
                self._busy = True
                batch = self._take(q)
                self._inflight = len(batch)
                self._deliver(batch)
                self._inflight = 0
        except Exception:  # a bug here must not kill the thread
            log.exception("chatwatch: unexpected error in the sender")
        finally:
            self._inflight = 0
            self._busy = False
            with self._done:
                self._done.notify_all()

    def _take(self, q: deque[Any]) -> Batch:
        # Only this thread pops, and appends never shrink the deque, so n pops succeed.
        n = min(len(q), self.batch_size)
        pop = q.popleft
        batch = [pop() for _ in range(n)]
        self._taken += n
        # the hot record calls queue a tuple whose first item makes it the event's dict
        return [e if type(e) is dict else e[0](e) for e in batch]

    def _deliver(self, batch: Batch, failing_since: int | None = None) -> None:
        attempt = server_errors = 0
        while batch:
            try:
                self.transport.send(batch)
            except RejectedBatch as exc:
                batch = self._rejected_part(batch, exc)
                continue
            except Exception as exc:
                if isinstance(exc, ServerError):
                    server_errors += 1
                    failing_since = self._sent if failing_since is None else failing_since
                    if server_errors >= _SPLIT_AFTER:
                        if len(batch) > 1:  # isolate what the server fails on
                            half = len(batch) // 2
                            self._deliver(batch[:half], failing_since)
                            batch, server_errors = batch[half:], 0
                            continue
                        if self._sent > failing_since or server_errors >= _DROP_ALONE_AFTER:
                            self._drop_poison(exc, server_errors)
                            return
                attempt += 1
                self._retries += 1
                delay = self._backoff(attempt, exc)
                self._log_failure(len(batch), exc, delay)
                if not self._sleep(delay):
                    self._lost += len(batch)
                    log.warning("chatwatch: gave up on %d events at shutdown", len(batch))
                    return
                continue
            self._sent += len(batch)
            if self._failing:
                self._failing = False
                log.info("chatwatch: sending works again after %d retries", attempt)
            return

    def _drop_poison(self, exc: Exception, tries: int) -> None:
        """One event the server keeps failing on (5xx) while others go through, or after
        many tries alone: dropped and counted as rejected, so it cannot wedge the queue."""
        self._rejected += 1
        level = logging.DEBUG if self._warned_poison else logging.WARNING
        self._warned_poison = True
        log.log(
            level,
            "chatwatch: dropped an event the server failed on %d times (%s)",
            tries,
            clean(exc),
        )

    def _rejected_part(self, batch: Batch, exc: RejectedBatch) -> Batch:
        """Drop what was rejected; return what should be sent again."""
        if exc.status == 413 and len(batch) > 1:
            half = len(batch) // 2
            self._deliver(batch[:half])
            return batch[half:]
        named = {i for i in exc.indexes or () if 0 <= i < len(batch)}
        bad = named or set(range(len(batch)))
        self._rejected += len(bad)
        level = logging.DEBUG if self._warned_reject else logging.WARNING
        self._warned_reject = True
        # the server's answer may quote a field name the app sent: one line, escaped
        log.log(level, "chatwatch: %d of %d events rejected: %s", len(bad), len(batch), clean(exc))
        return [e for i, e in enumerate(batch) if i not in bad]

    def _backoff(self, attempt: int, exc: Exception) -> float:
        ceiling = min(self.max_backoff, self.backoff_base * 2 ** min(attempt - 1, 32))
        delay = random.uniform(ceiling / 2, ceiling)
        if isinstance(exc, RetryAfter):
            delay = max(delay, min(exc.seconds, self.max_backoff))
        return delay

    def _log_failure(self, size: int, exc: Exception, delay: float) -> None:
        level = logging.DEBUG if self._failing else logging.WARNING
        self._failing = True
        log.log(
            level,
            "chatwatch: sending %d events failed (%s: %s); retrying in %.2fs",
            size,
            type(exc).__name__,
            exc,
            delay,
        )

    def _sleep(self, delay: float) -> bool:
        """Back off; False when closing and out of time (the caller gives up)."""
        if not self._stop.is_set():
            self._stop.wait(delay)
            return True
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        return True

    def _past_deadline(self) -> bool:
        return self._stop.is_set() and time.monotonic() > self._deadline


def _after_fork_in_child() -> None:
    for sender in list(_live):
        sender._reset()


os.register_at_fork(after_in_child=_after_fork_in_child)
