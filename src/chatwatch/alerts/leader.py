"""One evaluating replica: the server's alert loop as a leader holding a lock.

Several ``chatwatch serve`` replicas on one PostgreSQL database must evaluate the rules
once, not once each: a round stepping states three times per interval would deliver
each notification from whichever replica happened to be first. So the first replica to
take the session advisory lock keeps it, on a connection of its own, for as long as it
lives: it is the leader and evaluates every round; the others try the lock at each of
their rounds and evaluate nothing. When the leader dies (even by SIGKILL) its connection
closes, PostgreSQL releases the lock, and the next follower to try takes over, within
one evaluation interval. Each round the leader checks it still holds the lock (a
restarted database or a cut connection loses it), so two leaders never evaluate at once.

On SQLite there is one server process per file: it always leads (the write transaction
still serialises it with ``chatwatch check`` from cron).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import Connection, text

from chatwatch.store import Store

__all__ = ["LOCK_KEY", "LeaderStatus", "Leadership"]

log = logging.getLogger("chatwatch.alerts")
LOCK_KEY = 727100004  # the same key ``evaluation_lock`` takes for one round
_HELD = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
    " AND granted AND classid = 0 AND objid = :key AND objsubid = 1"
)


@dataclass
class LeaderStatus:
    """What this replica's alert loop has done (``GET /api/v1/alerts/evaluator``)."""

    instance: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    leader: bool = False
    attempts: int = 0  # rounds begun: evaluated as leader, or tried the lock as follower
    rounds: int = 0  # rounds evaluated
    leader_since: float | None = None
    leader_since_attempt: int | None = None  # the attempt at which leadership was taken
    last_round_at: float | None = None


class Leadership:
    """The evaluation lock held across rounds (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.status = LeaderStatus()
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        """Begin a round: True when this replica leads (it held or just took the lock)."""
        with self._lock:
            self.status.attempts += 1
            leads = self._still_held() if self._conn is not None else self._take()
            if leads and not self.status.leader:
                self.status.leader_since = time.time()
                self.status.leader_since_attempt = self.status.attempts
                log.info("alerts: %s now evaluates the rules", self.status.instance)
            elif not leads and self.status.leader:
                log.warning("alerts: %s lost the evaluation lock", self.status.instance)
            self.status.leader = leads
            return leads

    def evaluated(self, at: float) -> None:
        with self._lock:
            self.status.rounds += 1
            self.status.last_round_at = at

    def _take(self) -> bool:
        if self.store.dialect != "postgresql":
            return True
        conn = self.store.engine.connect()
        try:
            got = bool(conn.execute(text(f"SELECT pg_try_advisory_lock({LOCK_KEY})")).scalar())
            conn.commit()
        except Exception:
            conn.invalidate()
            conn.close()
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def _still_held(self) -> bool:
        assert self._conn is not None
        try:
            held = bool(self._conn.execute(_HELD, {"key": LOCK_KEY}).scalar())
            self._conn.commit()
        except Exception:
            log.warning("alerts: the evaluation lock's connection failed", exc_info=True)
            held = False
        if not held:
            self._drop()
        return held

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # a new connection next time: the lock goes with this one
                conn.close()
            except Exception:
                log.debug("alerts: closing the lock's connection failed", exc_info=True)

    def release(self) -> None:
        """Give the lock up (server shutdown), so a follower takes over at its next round."""
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.execute(text(f"SELECT pg_advisory_unlock({LOCK_KEY})"))
                    self._conn.commit()
                except Exception:
                    log.debug("alerts: unlocking failed; closing drops the lock", exc_info=True)
                self._drop()
            self.status.leader = False
