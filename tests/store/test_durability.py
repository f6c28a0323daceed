"""CHATWATCH_SQLITE_SYNCHRONOUS: NORMAL by default (a commit survives the process dying),
FULL when asked (it survives a power cut too); the server's store takes the setting."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chatwatch.config import Settings
from chatwatch.server import create_app
from chatwatch.store import Store


def _synchronous(store: Store) -> int:
    with store.read() as conn:
        return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())


def test_normal_by_default_full_when_asked(sqlite_url: str) -> None:
    """PRAGMA synchronous is 1 (NORMAL) by default and 2 (FULL) with the setting."""
    for value, expected in [("normal", 1), ("full", 2)]:
        store = Store(sqlite_url, sqlite_synchronous=value)  # type: ignore[arg-type]
        try:
            assert _synchronous(store) == expected
        finally:
            store.close()


def test_the_server_reads_the_setting(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """CHATWATCH_SQLITE_SYNCHRONOUS=full reaches the server's connections; a typo is refused."""
    monkeypatch.setenv("CHATWATCH_SQLITE_SYNCHRONOUS", "full")
    app = create_app(Settings(database_url=sqlite_url, alerts_enabled=False, _env_file=None))  # type: ignore[call-arg]
    try:
        assert _synchronous(app.state.chatwatch.store) == 2
    finally:
        app.state.chatwatch.store.close()
    monkeypatch.setenv("CHATWATCH_SQLITE_SYNCHRONOUS", "off")
    with pytest.raises(ValueError, match="sqlite_synchronous"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def _page_size(store: Store) -> int:
    with store.read() as conn:
        return int(conn.exec_driver_sql("PRAGMA page_size").scalar_one())


def test_a_new_file_has_8k_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    """A store made by chatwatch has pages of 8 KB (half the WAL frames per commit of
    4 KB); a file made before with SQLite's 4 KB keeps them and is written as ever."""
    new = Store(f"sqlite:///{tmp_path / 'new.db'}")
    try:
        assert _page_size(new) == 8192
    finally:
        new.close()
    old_path = tmp_path / "old.db"
    raw = sqlite3.connect(old_path)
    raw.execute("PRAGMA page_size=4096")
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("CREATE TABLE before_chatwatch (x)")
    raw.close()
    old = Store(f"sqlite:///{old_path}")
    try:
        assert _page_size(old) == 4096
        with old.write() as conn:
            conn.exec_driver_sql("INSERT INTO before_chatwatch VALUES (1)")
        with old.read() as conn:
            assert conn.exec_driver_sql("SELECT x FROM before_chatwatch").all() == [(1,)]
            assert conn.exec_driver_sql("SELECT count(*) FROM events").scalar_one() == 0
    finally:
        old.close()
