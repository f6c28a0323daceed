"""Group commit: batches written together give exactly what writing them one by one gives."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from chatwatch.config import Settings
from chatwatch.events import parse_events
from chatwatch.server import create_app
from chatwatch.server.group_commit import GroupWriter
from chatwatch.server.keys import create_key
from chatwatch.store import Store
from chatwatch.store.schema import rollup_hist, rollups, sessions, user_activity
from chatwatch.store.writer import prepare, write_prepared
from traffic import START, traffic_batches


def table_rows(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    with store.read() as conn:
        return {
            table.name: sorted(tuple(row) for row in conn.execute(select(table)))
            for table in (rollups, rollup_hist, sessions, user_activity)
        }


def test_grouped_writes_equal_one_by_one(db_url: str, tmp_path: Any) -> None:
    """Same accepted/duplicate counts, rollups, histograms, sessions and user activity."""
    batches = traffic_batches()
    assert sum(len(b) for b in batches) > 2500
    one = Store(f"sqlite:///{tmp_path / 'one.db'}")
    grouped = Store(db_url)
    try:
        expected = [one.ingest(batch) for batch in batches]
        results = []
        for start in range(0, len(batches), 6):
            group = [prepare(b, store_text=False) for b in batches[start : start + 6]]
            with grouped.write() as conn:
                results += write_prepared(conn, group)
        assert results == expected
        assert sum(r.duplicates for r in results) > 200
        want, got = table_rows(one), table_rows(grouped)
    finally:
        one.close()
        grouped.close()
    for name in ("rollup_hist", "sessions", "user_activity"):
        assert got[name] == want[name], name
    assert [r[:-1] for r in got["rollups"]] == [r[:-1] for r in want["rollups"]]
    # float sums added in another order may differ in the last bits only
    assert [r[-1] for r in got["rollups"]] == pytest.approx([r[-1] for r in want["rollups"]])


def test_concurrent_requests_each_count_once(db_url: str, make_server: Any) -> None:
    """Overlapping batches posted at once: each event stored once, counted once."""
    # the traffic is dated START (September 2026): past the default 30 days' retention
    settings = Settings(database_url=db_url, event_retention_days=3650, _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings)
    store = app.state.chatwatch.store
    key = create_key(store, "ingest")
    server = make_server(app).start()
    turns = [
        {"type": "turn", "id": f"t{i:04d}", "ts": START, "response_time_ms": 100 + i}
        for i in range(400)
    ]
    batches = [turns[i : i + 60] for i in range(0, 400, 40)]  # neighbours overlap by 20
    answers: list[dict[str, int]] = []
    lock = threading.Lock()

    http = httpx.Client(base_url=server.url, timeout=30, limits=httpx.Limits(max_connections=20))

    def post(batch: list[dict[str, Any]]) -> None:
        response = http.post(
            "/api/v1/events", json=batch, headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 202
        with lock:
            answers.append(response.json())

    threads = [threading.Thread(target=post, args=(b,)) for b in batches * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert len(answers) == len(threads)
        assert sum(a["accepted"] for a in answers) == 400
        assert sum(a["duplicates"] for a in answers) == 2 * sum(map(len, batches)) - 400
        read = {"Authorization": f"Bearer {create_key(store, 'read')}"}
        metrics = http.get("/monitoring/metrics", params={"window": "all"}, headers=read).json()
        assert metrics["chat"]["total_requests"] == 400
        assert metrics["chat"]["avg_response_time_ms"] == round(sum(range(100, 500)) / 400, 2)
    finally:
        http.close()
        server.stop()
        store.close()


def test_late_events_over_http_show_in_the_next_read(sqlite_url: str, make_server: Any) -> None:
    """A late batch written by the group writer refreshes reads of sealed, cached hours."""
    app = create_app(Settings(database_url=sqlite_url, _env_file=None))  # type: ignore[call-arg]
    store = app.state.chatwatch.store
    key = create_key(store, "ingest")
    server = make_server(app).start()
    http = httpx.Client(base_url=server.url)
    auth = {"Authorization": f"Bearer {key}"}
    read = {"Authorization": f"Bearer {create_key(store, 'read')}"}
    old = time.time() - 5 * 3600
    try:
        for i, ts in enumerate((old, old + 1)):
            event = {"type": "turn", "id": f"late-{i}", "ts": ts, "response_time_ms": 100}
            assert http.post("/api/v1/events", json=[event], headers=auth).status_code == 202
            chat = http.get("/monitoring/metrics", params={"window": "24h"}, headers=read).json()[
                "chat"
            ]
            assert chat["total_requests"] == i + 1
    finally:
        http.close()
        server.stop()
        store.close()


class FlakyStore:
    """A store whose writes fail when they hold a poisoned event; writes wait for release."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.entered: list[int] = []
        self.failed: list[int] = []
        self.release = threading.Event()

    def ingest_prepared(self, batches: list[Any], *, defer: bool = False) -> list[Any]:
        self.entered.append(len(batches))
        self.release.wait(10)
        if any("poison" in b.events for b in batches):
            self.failed.append(len(batches))
            with self.store.write() as conn:  # written, then rolled back
                write_prepared(conn, [b for b in batches if "poison" not in b.events], defer=defer)
                raise RuntimeError("disk on fire")
        return self.store.ingest_prepared(batches, defer=defer)

    def fold_journal(self) -> int:
        return self.store.fold_journal()


def test_a_failing_batch_fails_only_its_own_request(sqlite_url: str) -> None:
    """A shared transaction that fails is retried batch by batch: the others succeed."""
    store = Store(sqlite_url)
    flaky = FlakyStore(store)
    writer = GroupWriter(flaky)  # type: ignore[arg-type]

    def batch(name: str) -> Any:
        turn = {"type": "turn", "ts": START, "response_time_ms": 5, "session_id": "s1"}
        turns = [{**turn, "id": f"{name}-0"}, {**turn, "id": name}]
        return prepare(parse_events(turns), store_text=False)

    async def run() -> list[Any]:
        tasks = [asyncio.ensure_future(writer.ingest(batch(n))) for n in ["a", "b", "poison", "c"]]
        # the writer holds its first group while the rest queue up behind it
        while len(writer._jobs) + sum(flaky.entered) < 4:
            await asyncio.sleep(0.01)
        flaky.release.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    try:
        a, b, poisoned, c = asyncio.run(run())
        assert isinstance(poisoned, RuntimeError)
        assert [r.accepted for r in (a, b, c)] == [2, 2, 2]
        assert max(flaky.failed) >= 2 and flaky.failed[-1] == 1  # shared, then alone
        store.fold_journal()
        with store.read() as conn:
            ids = set(conn.exec_driver_sql("SELECT id FROM events").scalars())
            turns = conn.exec_driver_sql(
                "SELECT sum(n) FROM rollups WHERE series = 'turns' AND res = 60"
            ).scalar()
            session_turns = conn.exec_driver_sql("SELECT turns FROM sessions").scalar()
        assert ids == {"a", "a-0", "b", "b-0", "c", "c-0"}
        # the failed attempt left nothing behind, and the retries counted nothing twice
        assert turns == session_turns == 6
    finally:
        store.close()
