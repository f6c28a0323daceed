"""Attempt counters kept in the database, so every replica shares them: login attempts
per address and per name, feedback posts per run and per address.

``count`` adds one attempt to each key *before* the work it guards, atomically (one
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` per key, all in one transaction, on
SQLite and PostgreSQL alike), and says how long the caller must wait when a key is over
its limit. A key with ``backoff`` doubles its window (up to ``max_window_s``) each time a
window ends over the limit, so a persistent guesser gets slower and slower.
"""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from chatwatch.store import Store
from chatwatch.store.schema import auth_attempts

__all__ = ["Limit", "clear", "count", "key_of"]

PURGE_CHANCE = 0.01


@dataclass(frozen=True)
class Limit:
    key: str
    limit: int
    window_s: float
    backoff: bool = False
    max_window_s: float = 86400.0


def key_of(kind: str, value: str) -> str:
    """A bounded key that holds no user-typed text (names and ids are hashed)."""
    digest = hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:40]
    return f"{kind[:40]}:{digest}"


def _upsert(dialect: str, limit: Limit, now: float) -> Any:
    table = auth_attempts
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    expired = table.c.window_end <= now
    if limit.backoff:
        doubled = table.c.window_s * 2
        capped = case((doubled > limit.max_window_s, limit.max_window_s), else_=doubled)
        window = case(
            (and_(expired, table.c.count > limit.limit), capped),
            (expired, limit.window_s),
            else_=table.c.window_s,
        )
    else:
        window = case((expired, limit.window_s), else_=table.c.window_s)
    statement = insert(table).values(
        key=limit.key, count=1, window_end=now + limit.window_s, window_s=limit.window_s
    )
    return statement.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={
            "count": case((expired, 1), else_=table.c.count + 1),
            "window_s": window,
            "window_end": case((expired, now + window), else_=table.c.window_end),
        },
    ).returning(table.c.count, table.c.window_end)


def count(store: Store, limits: list[Limit], now: float | None = None) -> float:
    """Count one attempt on every key; seconds to wait (0: go ahead, the attempt may run)."""
    now = time.time() if now is None else now
    wait = 0.0
    with store.write() as conn:
        for limit in limits:
            attempts, window_end = conn.execute(_upsert(store.dialect, limit, now)).one()
            if int(attempts) > limit.limit:
                wait = max(wait, float(window_end) - now, 1.0)
        if random.random() < PURGE_CHANCE:  # keys idle for a day are forgotten
            conn.execute(delete(auth_attempts).where(auth_attempts.c.window_end < now - 86400))
    return wait


def clear(store: Store, keys: list[str]) -> None:
    """Forget the attempts on ``keys`` (after a successful login)."""
    with store.write() as conn:
        conn.execute(delete(auth_attempts).where(auth_attempts.c.key.in_(keys)))
