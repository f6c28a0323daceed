"""The server's hold on the evaluation lock: one leader across rounds, lost with its
connection, released on shutdown."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from chatwatch.alerts import evaluation_lock
from chatwatch.alerts.leader import LOCK_KEY, Leadership
from chatwatch.store import Store

pytestmark = pytest.mark.postgres


def test_one_leader_until_it_lets_go(pg_url: str) -> None:
    """The first replica to try keeps leading; the other follows until it is released,
    and a one-off evaluation (``chatwatch check``) waits its turn meanwhile."""
    a, b = Store(pg_url), Store(pg_url)
    first, second = Leadership(a), Leadership(b)
    try:
        assert first.acquire() and first.acquire()
        assert not second.acquire() and not second.acquire()
        with evaluation_lock(b) as allowed:
            assert not allowed
        first.release()
        assert second.acquire()
        assert second.status.leader_since_attempt == 3 and second.status.attempts == 3
        assert not first.acquire()
        assert (first.status.leader, second.status.leader) == (False, True)
    finally:
        first.release()
        second.release()
        a.close()
        b.close()


def test_a_lost_connection_loses_the_lead(pg_url: str) -> None:
    """When the database drops the leader's connection, the leader notices at its next
    round (no evaluation on a lock it no longer holds) and another replica leads."""
    a, b = Store(pg_url), Store(pg_url)
    first, second = Leadership(a), Leadership(b)
    try:
        assert first.acquire()
        with b.engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND objid = :key"
                ),
                {"key": LOCK_KEY},
            )
            conn.commit()
        assert not first.acquire() and not first.status.leader
        assert second.acquire()
    finally:
        first.release()
        second.release()
        a.close()
        b.close()
