"""CHATWATCH_SQLITE_SYNCHRONOUS: NORMAL by default (a commit survives the process dying),
FULL when asked (it survives a power cut too); the server's store takes the setting."""

from __future__ import annotations

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
