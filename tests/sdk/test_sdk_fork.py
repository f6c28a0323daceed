"""A client made before os.fork() keeps working in the parent and in the child."""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chatwatch.sdk import Client, FunctionTransport

MakeClient = Callable[..., Client]

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def file_writer(path: Path) -> Callable[[list[dict[str, Any]]], None]:
    """A transport body appending one line per batch, tagged with the sending process."""

    def write(batch: list[dict[str, Any]]) -> None:
        line = json.dumps({"pid": os.getpid(), "events": batch}) + "\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    return write


def fork() -> int:
    with warnings.catch_warnings():  # 3.12+ warns about forking with threads running
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def child(client: Client, parent_id: str) -> int:
    """Runs in the forked child; the exit code says which check failed."""
    if client.stats() != dict.fromkeys(client.stats(), 0):
        return 2  # the parent's queue and counters must not leak into the child
    child_id = client.message("user", "child")
    if child_id[11:21] == parent_id[11:21]:
        return 3  # the child needs its own id tag
    if not client.flush(5):
        return 4
    return 0


def test_child_gets_a_fresh_queue_and_thread(make_client: MakeClient, tmp_path: Path) -> None:
    """The child records and flushes on its own; the parent's queue is sent by the parent only."""
    out = tmp_path / "sent.jsonl"
    client = make_client(transport=FunctionTransport(file_writer(out)), flush_interval=60)
    client.message("user", "warm-up")
    assert client.flush(5)  # the parent's sender thread is running
    parent_id = client.message("user", "parent-before")
    assert client.stats()["queued"] == 1

    pid = fork()
    if pid == 0:  # pragma: no cover - the child's checks come back as its exit code
        code = 1
        try:
            code = child(client, parent_id)
        finally:
            sys.stdout.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

    client.message("user", "parent-after")
    assert client.flush(5)
    sent: dict[int, list[str]] = {}
    for line in out.read_text().splitlines():
        record = json.loads(line)
        sent.setdefault(record["pid"], []).extend(e["session_id"] for e in record["events"])
    assert sent[pid] == ["child"]
    assert sent[os.getpid()] == ["warm-up", "parent-before", "parent-after"]
