"""The rollup journal: ingest commits a batch's rollup increments as one row, folded later.

Upserting rollup, histogram and session rows for every small batch cost the server's
ingest more than storing the events themselves; the same rows upserted once for many
batches cost a fraction. So the server's writer commits each group's increments (a
:class:`~chatwatch.store.rollup.Delta`, at minute resolution, sessions included) as a
single journal row in the same transaction as its events, and folds the journal into the
rollups every few seconds (and before every read) in one transaction.

Nothing acknowledged can be lost or counted twice: a journal row is committed with its
events and deleted in the transaction that applies it. Reads stay exact: every rollup or
session read first folds whatever the journal holds (``Store`` does this), so a read
sees every event acknowledged before it began. On PostgreSQL the rows are taken
``FOR UPDATE``: two processes folding at once apply each row once, and a reader waits
for a fold in progress rather than missing its rows.
"""

from __future__ import annotations

import io
import pickle
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from chatwatch.store.rollup import Delta, SessionDelta, session_values
from chatwatch.store.schema import readiness_probe, rollup_journal, rollup_journal_quarantine

__all__ = [
    "Journalled",
    "append",
    "append_group",
    "decode",
    "encode",
    "has_pending",
    "merge_parts",
    "pending_ids",
    "probe_write",
    "quarantine",
    "quarantined",
    "take",
    "take_one",
    "take_parts",
    "unavailable",
]


# what a process keeps in memory of a journal row it wrote: the row's increments, as
# one delta or as one per batch (see append_group), to be merged by the fold
Journalled = list[Delta]
# the first item of a row written by append_group: the rows of append start with a dict
_GROUP = "batches"


def encode(delta: Delta) -> bytes:
    """The delta as a pickle of plain dicts, tuples and numbers: eight times cheaper
    than JSON for ingest's hot path, and read back by an unpickler that loads no class."""
    sessions = list(map(session_values, delta.sessions.values()))
    return pickle.dumps(
        (delta.counts, delta.hist, delta.users, sessions, delta.usage, delta.index, delta.ranges),
        protocol=5,
    )


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"the rollup journal holds no objects ({module}.{name})")


def decode(blob: bytes) -> Delta:
    loaded = _PlainUnpickler(io.BytesIO(blob)).load()
    if loaded[0] == _GROUP:  # a group's batches, each encoded apart (append_group)
        _, ranges, parts = loaded
        total = merge_parts([decode(part) for part in parts])
        total.ranges += ranges
        return total
    counts, hist, users, sessions, *rest = loaded
    # rows journalled before usage (0010) or the session index (0012) lack those parts
    usage = rest[0] if rest else {}
    index = rest[1] if len(rest) > 1 else []
    ranges = rest[2] if len(rest) > 2 else []
    delta = Delta(counts=counts, hist=hist, users=users, usage=usage, index=index, ranges=ranges)
    for row in sessions:
        s = SessionDelta(*row)
        delta.sessions[(s.service, s.session_id)] = s
    return delta


def append(conn: Connection, delta: Delta, events: int, min_ts: float) -> int:
    """Journal one group's increments (the caller's transaction commits them); returns
    the journal row's id."""
    return _insert_row(conn, encode(delta), events, min_ts)


def append_group(
    conn: Connection, parts: list[bytes], ranges: list[tuple[int, int]], events: int, min_ts: float
) -> int:
    """Journal one group as its batches' increments each encoded apart (``encode``, on
    the request threads that prepared them, beside the writer) and the rowid ranges
    of their events: the one writer thread neither merges nor encodes them. Returns the
    journal row's id."""
    return _insert_row(conn, pickle.dumps((_GROUP, ranges, parts), protocol=5), events, min_ts)


def _insert_row(conn: Connection, blob: bytes, events: int, min_ts: float) -> int:
    result = conn.execute(
        insert(rollup_journal).values(
            created_at=time.time(), events=events, min_ts=min_ts, delta=blob
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def has_pending(conn: Connection) -> bool:
    # before every rollup read, so plain SQL: no statement to build and look up
    return conn.exec_driver_sql("SELECT 1 FROM rollup_journal LIMIT 1").first() is not None


def take(
    conn: Connection, known: Mapping[int, Journalled] | None = None
) -> tuple[Delta, list[int], float] | None:
    """Remove every journal row and return their increments merged, the ids taken and
    the earliest event time in them; None when the journal is empty. Run inside a write
    transaction that then applies the delta.

    ``known`` holds increments this process journalled itself, still in memory: those
    rows are not read back and decoded. Their deltas are consumed (merged into the
    result), so they must not be used again whether or not the transaction commits.
    """
    taken = take_parts(conn, known)
    if taken is None:
        return None
    parts, ids, min_ts = taken
    return merge_parts(parts), ids, min_ts


def take_parts(
    conn: Connection, known: Mapping[int, Journalled] | None = None
) -> tuple[list[Delta], list[int], float] | None:
    """:func:`take` without the merge: the rows' increments in order (from ``known``, or
    decoded), for a caller that works beside the merge (writer.fold_journal)."""
    j = rollup_journal.c
    query = select(j.id, j.min_ts).order_by(j.id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    rows = conn.execute(query).all()
    if not rows:
        return None
    known = known or {}
    ids = [int(row[0]) for row in rows]
    missing = [i for i in ids if i not in known]
    blobs: dict[int, bytes] = {}
    for start in range(0, len(missing), 1000):
        chunk = missing[start : start + 1000]
        for journal_id, blob in conn.execute(select(j.id, j.delta).where(j.id.in_(chunk))):
            blobs[int(journal_id)] = blob
    parts: list[Delta] = []
    for i in ids:
        parts.extend(known.get(i) or [decode(blobs[i])])
    for start in range(0, len(ids), 1000):
        conn.execute(delete(rollup_journal).where(j.id.in_(ids[start : start + 1000])))
    return parts, ids, min(float(row[1]) for row in rows)


def merge_parts(parts: list[Delta]) -> Delta:
    """The increments as one delta: the first, with the others added (all consumed: see
    Delta.merge)."""
    total = parts[0]
    for part in parts[1:]:
        total.merge(part)
    return total


def pending_ids(conn: Connection) -> list[int]:
    return [
        int(i)
        for i in conn.execute(select(rollup_journal.c.id).order_by(rollup_journal.c.id)).scalars()
    ]


def take_one(conn: Connection, journal_id: int) -> tuple[Delta, float] | None:
    """Remove one journal row and return its increments and earliest event time (None if
    another fold took it first): how a fold that failed finds the row at fault."""
    j = rollup_journal.c
    query = select(j.delta, j.min_ts).where(j.id == journal_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        return None
    delta = decode(row[0])
    conn.execute(delete(rollup_journal).where(j.id == journal_id))
    return delta, float(row[1])


def quarantine(conn: Connection, journal_id: int, error: str) -> bool:
    """Move one journal row to ``rollup_journal_quarantine`` (its increments are kept
    there, not applied); False when it was gone already."""
    j = rollup_journal.c
    row = conn.execute(
        select(j.id, j.created_at, j.events, j.min_ts, j.delta).where(j.id == journal_id)
    ).first()
    if row is None:
        return False
    conn.execute(
        insert(rollup_journal_quarantine).values(
            id=row.id,
            created_at=row.created_at,
            quarantined_at=time.time(),
            events=row.events,
            min_ts=row.min_ts,
            delta=row.delta,
            error=error[:128],
        )
    )
    conn.execute(delete(rollup_journal).where(j.id == journal_id))
    return True


def quarantined(conn: Connection) -> int:
    """Journal rows held in quarantine."""
    return int(
        conn.execute(select(func.count()).select_from(rollup_journal_quarantine)).scalar_one()
    )


def unavailable(exc: BaseException) -> bool:
    """The database cannot be reached or written (down, read-only, full, locked): not the
    fault of any row, so nothing is quarantined for it."""
    return isinstance(exc, OperationalError | InterfaceError | PoolTimeout) or bool(
        getattr(exc, "connection_invalidated", False)
    )


def probe_write(conn: Connection) -> None:
    """Update (or make) the one readiness_probe row."""
    now = time.time()
    probe = readiness_probe.c
    done = conn.execute(update(readiness_probe).where(probe.id == 1).values(checked_at=now))
    if done.rowcount == 0:
        conn.execute(insert(readiness_probe).values(id=1, checked_at=now))
