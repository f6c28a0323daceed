"""CORS on the read routes for the configured origins only, and the ``summary`` key scope
that reads aggregates and nothing else."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chatwatch.config import Settings
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from live_server import LiveServer

PANEL = "https://panel.example.com"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One server with CORS for PANEL, one with the default (none)."""
    out: dict[str, Any] = {}
    started = []
    for name, origins in (("cors", PANEL), ("closed", "")):
        url = f"sqlite:///{tmp_path_factory.mktemp(name) / 'cw.db'}"
        settings = Settings(
            database_url=url, alerts_enabled=False, cors_origins=origins, _env_file=None
        )  # type: ignore[call-arg]
        app = create_app(settings)
        live = LiveServer(app).start()
        started.append((live, app))
        store = app.state.chatwatch.store
        out[name] = {
            "url": live.url,
            "summary": create_key(store, "summary"),
            "read": create_key(store, "read"),
            "ingest": create_key(store, "ingest"),
        }
    yield out
    for live, app in started:
        live.stop()
        app.state.chatwatch.store.close()


def _preflight(url: str, origin: str, method: str = "GET") -> httpx.Response:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization",
    }
    return httpx.options(f"{url}/monitoring/stats/summary", headers=headers)


def test_preflight_from_an_allowed_and_a_refused_origin(servers: dict[str, Any]) -> None:
    """The allowed origin's preflight is answered with its origin, GET and Authorization;
    another origin, a POST, or a server without the setting gets no CORS approval."""
    s = servers["cors"]
    ok = _preflight(s["url"], PANEL)
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == PANEL
    assert "GET" in ok.headers["access-control-allow-methods"]
    assert "authorization" in ok.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in ok.headers
    refused = _preflight(s["url"], "https://evil.example.net")
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert _preflight(s["url"], PANEL, "POST").status_code == 400
    closed = _preflight(servers["closed"]["url"], PANEL)
    assert "access-control-allow-origin" not in closed.headers


def test_the_panel_reads_the_summary_with_a_summary_key(servers: dict[str, Any]) -> None:
    """A GET from the panel with a summary key gets guide 003's summary and the CORS
    header; ingest and dashboard routes carry no CORS header."""
    s = servers["cors"]
    headers = {"Origin": PANEL, "Authorization": f"Bearer {s['summary']}"}
    response = httpx.get(f"{s['url']}/monitoring/stats/summary", headers=headers)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == PANEL
    assert set(response.json()) >= {"total_requests", "success_rate_percent", "system_status"}
    ingest = httpx.post(
        f"{s['url']}/api/v1/events",
        json=[],
        headers={"Origin": PANEL, "Authorization": f"Bearer {s['ingest']}"},
    )
    assert "access-control-allow-origin" not in ingest.headers
    page = httpx.get(f"{s['url']}/analytics/login", headers={"Origin": PANEL})
    assert "access-control-allow-origin" not in page.headers


@pytest.mark.parametrize(
    "path",
    [
        "/monitoring/metrics",
        "/api/v1/metrics",
        "/api/v1/sessions",
        "/metrics",
        "/api/chat/analytics/export/?start_date=2025-01-01&end_date=2025-01-01&type=sessions",
        "/api/v1/alerts",
    ],
)
def test_a_summary_key_reads_nothing_else(servers: dict[str, Any], path: str) -> None:
    """Routes that show user ids or breakdowns refuse a summary key (403); a read key
    still reads the summary."""
    s = servers["cors"]
    response = httpx.get(f"{s['url']}{path}", headers={"Authorization": f"Bearer {s['summary']}"})
    assert response.status_code == 403, response.text
    read = {"Authorization": f"Bearer {s['read']}"}
    assert httpx.get(f"{s['url']}/monitoring/stats/summary", headers=read).status_code == 200
    assert httpx.get(f"{s['url']}/monitoring/health").status_code == 200


def test_the_summary_shows_no_user(servers: dict[str, Any]) -> None:
    """With turns of named users stored, the summary a summary key reads counts them and
    names none of them: no user id, no per-user figure."""
    s = servers["cors"]
    now = time.time()
    users = [f"secret-user-{n}" for n in range(3)]
    batch = [
        {
            "id": f"summary-turn-{n}",
            "type": "turn",
            "ts": now - 30 + n,
            "service": "panel-svc",
            "session_id": f"summary-s{n}",
            "user_id": user,
            "user_type": "premium",
            "response_time_ms": 250.0,
        }
        for n, user in enumerate(users)
    ]
    posted = httpx.post(
        f"{s['url']}/api/v1/events", json=batch, headers={"Authorization": f"Bearer {s['ingest']}"}
    )
    assert posted.status_code == 202, posted.text
    response = httpx.get(
        f"{s['url']}/monitoring/stats/summary",
        params={"window": "1h"},
        headers={"Authorization": f"Bearer {s['summary']}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["total_requests"] >= len(users)
    body = response.text
    assert not any(user in body for user in users)
    assert "user" not in body.lower()
