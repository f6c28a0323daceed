"""Shared fixtures: a store per dialect, throwaway PostgreSQL databases, a live server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatwatch.config import Settings
from chatwatch.server import create_app
from chatwatch.store import Store
from live_server import LiveServer
from module_db import DIALECTS, throwaway_db

# Servers made by tests validate batches in their own threads: a worker process per app
# would cost each test a second of start-up. The core end-to-end tests
# (tests/server/test_core_e2e.py) and tests/server/test_parse_pool.py use the worker.
os.environ.setdefault("CHATWATCH_INGEST_PROCESSES", "0")


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    with throwaway_db("postgresql", tmp_path) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'chatwatch.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'chatwatch.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[Store]:
    """A store on a fresh SQLite file, for tests that need no second dialect."""
    store = Store(sqlite_url)
    yield store
    store.close()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    yield s
    s.close()


@pytest.fixture
def make_server() -> Iterator[type[LiveServer]]:
    started: list[LiveServer] = []

    class Tracked(LiveServer):
        def start(self) -> LiveServer:
            started.append(self)
            return super().start()

    yield Tracked
    for server in started:
        server.stop()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def live(settings: Settings, make_server: type[LiveServer]) -> Iterator[LiveServer]:
    """The real server on a free port, over the parametrised database."""
    app = create_app(settings)
    server = make_server(app).start()
    yield server
    server.stop()  # before the store closes: shutting down folds the rollup journal
    app.state.chatwatch.store.close()


@pytest.fixture(scope="module", params=DIALECTS)
def module_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database per test module and dialect, for modules that start one real server."""
    with throwaway_db(request.param, tmp_path_factory.mktemp("module")) as url:
        yield url
