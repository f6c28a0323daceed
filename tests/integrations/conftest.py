"""Shared fixtures for the framework tests: one real chatwatch server per module, with
an ingest key for the SDK and a read key for the checks."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from integ_servers import Chatwatch

from chatwatch.config import Settings
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from live_server import LiveServer


@pytest.fixture(scope="module")
def chatwatch_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chatwatch]:
    db = tmp_path_factory.mktemp("chatwatch") / "chatwatch.db"
    settings = Settings(database_url=f"sqlite:///{db}", _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings)
    server = LiveServer(app).start()
    store = app.state.chatwatch.store
    ingest, read = create_key(store, "ingest"), create_key(store, "read")
    headers = {"Authorization": f"Bearer {read}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        yield Chatwatch(server.url, ingest, read, db, http)
    server.stop()
    store.close()
