"""Faults answered honestly, against the real server: a read-only or full SQLite makes
ingest a 503 with Retry-After (never a bare 500) and /readyz not ready, and both recover
when the database does; a spoiled rollup-journal row is quarantined, counted in /metrics,
and every read answers 200, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, event, insert
from sqlalchemy.exc import OperationalError

from chatwatch.config import Settings
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from chatwatch.store import Store
from chatwatch.store.schema import rollup_journal
from live_server import LiveServer
from module_db import DIALECTS, throwaway_db

READS = ["/monitoring/metrics", "/monitoring/stats/summary", "/api/v1/metrics", "/metrics"]


@pytest.fixture(scope="module", params=DIALECTS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Store, httpx.Client]]:
    with throwaway_db(request.param, tmp_path_factory.mktemp("faults")) as url:
        settings = Settings(
            database_url=url,
            alerts_enabled=False,
            _env_file=None,  # type: ignore[call-arg]
        )
        app = create_app(settings)
        store: Store = app.state.chatwatch.store
        headers = {"Authorization": f"Bearer {create_key(store, 'admin')}"}
        server = LiveServer(app).start()
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
            yield store, http
        server.stop()
        store.close()


def _batch(n: int = 2) -> list[dict[str, Any]]:
    now = time.time()
    return [
        {"type": "turn", "id": uuid.uuid4().hex, "ts": now, "response_time_ms": 50.0}
        for _ in range(n)
    ]


def _requests(http: httpx.Client) -> int:
    response = http.get("/monitoring/metrics", params={"window": "1h"})
    assert response.status_code == 200, response.text
    return int(response.json()["chat"]["total_requests"])


class _Pragma:
    """Every new SQLite connection of ``engine`` runs ``pragma`` until the block ends."""

    def __init__(self, engine: Engine, pragma: str) -> None:
        self.engine, self.pragma = engine, pragma

    def _on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(self.pragma)

    def __enter__(self) -> None:
        event.listen(self.engine, "connect", self._on_connect)
        self.engine.dispose()

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "connect", self._on_connect)
        self.engine.dispose()


def _full_pragma(store: Store) -> str:
    with store.read() as conn:
        pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
    return f"PRAGMA max_page_count={pages}"


@pytest.mark.parametrize("fault", ["read-only", "full"])
def test_an_unwritable_database_is_a_503_and_not_ready(
    served: tuple[Store, httpx.Client], fault: str
) -> None:
    """Ingest answers 503 with Retry-After, /readyz 503 (read-only); reads still answer;
    then both recover."""
    store, http = served
    if store.dialect != "sqlite":
        pytest.skip("a read-only or full file is a SQLite fault")
    before = _requests(http)
    pragma = "PRAGMA query_only=ON" if fault == "read-only" else _full_pragma(store)
    with _Pragma(store.engine, pragma):
        big = _batch(400) if fault == "full" else _batch()
        response = http.post("/api/v1/events", json=big)
        assert response.status_code == 503, response.text
        assert int(response.headers["retry-after"]) > 0
        if fault == "read-only":  # (a full file still takes a row that fits its pages)
            seed = http.post(
                "/monitoring/chat/metrics", params={"success": "true", "response_time_ms": "5"}
            )
            assert seed.status_code == 503
            ready = http.get("/readyz")
            assert ready.status_code == 503, ready.text
        assert _requests(http) == before
    assert http.get("/readyz").status_code == 200
    assert http.post("/api/v1/events", json=_batch()).status_code == 202
    assert _requests(http) == before + 2


def test_a_spoiled_journal_row_blocks_no_read(served: tuple[Store, httpx.Client]) -> None:
    """A journal row that cannot be decoded: quarantined, counted in /metrics, reads 200."""
    store, http = served
    before = _requests(http)
    assert http.post("/api/v1/events", json=_batch(3)).status_code == 202
    now = time.time()
    with store.write() as conn:
        conn.execute(
            insert(rollup_journal).values(created_at=now, events=1, min_ts=now, delta=b"junk")
        )
    assert http.post("/api/v1/events", json=_batch(2)).status_code == 202
    for path in READS:
        assert http.get(path).status_code == 200, path
    assert _requests(http) == before + 5
    families = {f.name: f for f in text_string_to_metric_families(http.get("/metrics").text)}
    (sample,) = families["chat_journal_quarantined_rows"].samples
    assert sample.value == 1
    assert http.get("/readyz").status_code == 200


def test_readyz_reports_a_fold_that_keeps_failing(
    served: tuple[Store, httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three folds failed in a row (the database refusing them): /readyz says not ready;
    the next fold that succeeds makes it ready again."""
    store, http = served

    def refuse() -> int:
        raise OperationalError("UPDATE rollups", {}, Exception("disk I/O error"))

    monkeypatch.setattr(store, "_fold_all", refuse)
    for _ in range(3):
        with pytest.raises(OperationalError):
            store.fold_journal()
    response = http.get("/readyz")
    assert response.status_code == 503 and "fold" in response.json()["error"]
    monkeypatch.undo()
    store.fold_journal()
    assert http.get("/readyz").status_code == 200
