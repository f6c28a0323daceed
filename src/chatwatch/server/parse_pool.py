"""Validation and preparation of ingest batches: in the server's threads, or in workers.

A batch is decoded and validated in one pass by msgspec (chatwatch.events_fast), pydantic
only naming the problems of a batch msgspec refuses, then turned into rows and rollup
increments. That costs less than handing the batch to another process and back
(bench/ingest.py prints both), so by default it runs in the server's own threads
(``ingest_processes`` = 0). With ``ingest_processes`` workers it runs on other cores.

A worker returns the prepared rows and increments without the event models (pickling
those would cost what was saved); the rare write that needs them (a batch meeting ids
already stored, or a retried write) parses the body again. A worker that dies is replaced
and the batch is prepared in the server's own process instead, so nothing is refused.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import msgspec
from pydantic import ValidationError

from chatwatch.events import error_details, parse_events
from chatwatch.events_fast import decode_batch
from chatwatch.server.inflate import gunzip
from chatwatch.server.parent_watch import exit_with_parent
from chatwatch.store.writer import Prepared, prepare

__all__ = [
    "MAX_ERRORS",
    "BatchTooLarge",
    "InvalidBatch",
    "ParsePool",
    "count_items",
    "parse_and_prepare",
]

log = logging.getLogger("chatwatch.server")
_RAW_ITEMS = msgspec.json.Decoder(list[msgspec.Raw])


SMALL_BODY = 64 * 1024  # bytes: prepared in the server's threads when the workers are busy
MAX_ERRORS = 100  # entries in a 422: a batch of garbage must not make a huge answer


@dataclass
class InvalidBatch(Exception):
    """The batch failed validation: one entry per problem (index, field, message), the
    first ``MAX_ERRORS`` of ``total``."""

    details: list[dict[str, Any]]
    total: int = 0


@dataclass
class BatchTooLarge(Exception):
    limit: int


def parse_and_prepare(
    body: bytes,
    max_events: int,
    store_text: bool,
    max_age_s: float | None = None,
    now: float | None = None,
    gzip_limit: int | None = None,
    encode: bool = True,
) -> Prepared:
    """Validate a JSON batch and make its rows and rollup increments; with ``max_age_s``,
    event times are bounded too (see chatwatch.events.check_times); with ``gzip_limit``,
    the body is gzip, inflated first (inflate.gunzip: at most that many bytes); with
    ``encode``, the increments are encoded for the journal here too (what the writer of
    a SQLite store journals as it is: store/writer.py, ``_journal_apart``).

    Raises InvalidBatch or BatchTooLarge (plain data, so they cross process boundaries).
    A batch msgspec finds valid (chatwatch.events_fast: one pass in C, stopping at the
    first problem) goes straight to rows; any other is counted and left to pydantic,
    which accepts it or names every problem.
    """
    if gzip_limit is not None:
        body = gunzip(body, gzip_limit)
    now = time.time() if now is None else now
    fast = decode_batch(body, max_age_s=max_age_s, now=now)
    if fast is not None:
        if len(fast) > max_events:
            raise BatchTooLarge(max_events)
        return _journal_ready(prepare(fast, store_text=store_text), encode)
    if count_items(body) > max_events:  # before pydantic validates anything
        raise BatchTooLarge(max_events)
    try:
        events = parse_events(body, max_age_s=max_age_s, now=now)
    except ValidationError as exc:
        raise InvalidBatch(error_details(exc)[:MAX_ERRORS], exc.error_count()) from None
    if len(events) > max_events:
        raise BatchTooLarge(max_events)
    return _journal_ready(prepare(events, store_text=store_text), encode)


def _journal_ready(prepared: Prepared, encode: bool) -> Prepared:
    """The batch with its increments encoded for the journal here, beside the writer
    thread, which journals them as they are (store/writer.py, ``_journal_apart``)."""
    if encode:
        prepared.encode_delta()
    return prepared


def count_items(body: bytes) -> int:
    """The items of a top-level JSON array, found without building them (msgspec's raw
    slices: ~0.2 s for 32 MB); 0 when the body is not an array (validation says why)."""
    try:
        return len(_RAW_ITEMS.decode(body))
    except (msgspec.DecodeError, RecursionError):
        return 0


def _in_worker(
    body: bytes, max_events: int, store_text: bool, max_age_s: float | None, encode: bool
) -> Prepared:
    prepared = parse_and_prepare(body, max_events, store_text, max_age_s, None, None, encode)
    prepared.events = None  # the server parses the body again if it ever needs them
    return prepared


def _ready() -> bool:
    """Run once in each new worker: importing this module there loads the schema."""
    return True


class ParsePool:
    """``processes`` workers (spawned, so no lock or thread of the server is inherited);
    0 prepares in the server's own threads."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._busy = 0  # batches in the workers now (changed in the event loop only)
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(
                    self.processes,
                    mp_context=context,
                    initializer=exit_with_parent,  # no orphan when the server is killed
                    initargs=(os.getpid(),),
                )
            return self._pool

    async def prepare(
        self,
        body: bytes,
        max_events: int,
        store_text: bool,
        max_age_s: float | None = None,
        *,
        gzip_limit: int | None = None,
        encode: bool = True,
    ) -> Prepared:
        """``gzip_limit``: the body is gzip, to be inflated to at most that many bytes
        (inflate.gunzip's errors), on a thread rather than the caller's event loop;
        ``encode``: see parse_and_prepare."""
        loop = asyncio.get_running_loop()
        if self.processes <= 0:
            whole = (body, max_events, store_text, max_age_s, None, gzip_limit, encode)
            return await loop.run_in_executor(None, parse_and_prepare, *whole)
        if gzip_limit is not None:
            body = await loop.run_in_executor(None, gunzip, body, gzip_limit)
        here = (body, max_events, store_text, max_age_s, None, None, encode)
        if self._busy >= self.processes and len(body) <= SMALL_BODY:
            # every worker is busy (perhaps with a big or hostile batch): a small batch
            # costs the server's own threads a few milliseconds rather than a wait
            return await loop.run_in_executor(None, parse_and_prepare, *here)
        pool = self._executor()
        self._busy += 1
        try:
            there = (body, max_events, store_text, max_age_s, encode)
            prepared = await loop.run_in_executor(pool, _in_worker, *there)
        except BrokenProcessPool:
            log.warning("chatwatch: an ingest worker process died; starting another")
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            return await loop.run_in_executor(None, parse_and_prepare, *here)
        finally:
            self._busy -= 1
        prepared.body = body
        return prepared

    def start(self) -> None:
        """Start the workers now (at server start) rather than on the first batch."""
        if self.processes > 0:
            pool = self._executor()
            for future in [pool.submit(_ready) for _ in range(self.processes)]:
                future.result(timeout=60)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
