"""`/api/v1/alerts`, `/api/v1/alerts/history` and `/api/v1/silences` over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from alert_helpers import T0, make_settings, turns

from chatwatch.alerts import evaluate, parse_rules
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from chatwatch.store import Store

RULES = parse_rules(
    {"rules": [{"name": "errors", "metric": "error_rate", "window": "5m", "min_samples": 10}]}
)


@pytest.fixture
def client(store: Store, db_url: str) -> Iterator[httpx.Client]:
    """In-process client; its host is not loopback, so every call needs a key."""
    app = create_app(make_settings(db_url, alerts_enabled=False), store)
    with httpx.Client(transport=_SyncASGI(app), base_url="http://localhost") as http:
        yield http


class _SyncASGI(httpx.BaseTransport):
    """Drive the ASGI app from sync tests (one event loop per request)."""

    def __init__(self, app: object) -> None:
        self.inner = httpx.ASGITransport(app=app, client=("203.0.113.5", 4000))  # type: ignore[arg-type]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def run() -> httpx.Response:
            response = await self.inner.handle_async_request(request)
            body = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=body)

        return asyncio.run(run())


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_alerts_and_history(store: Store, db_url: str, client: httpx.Client) -> None:
    """Firing alerts and their transitions are listed for a read key, refused without one."""
    turns(store, T0, 20, failed=4)
    evaluate(store, make_settings(db_url), RULES, now=T0 + 10)
    read = create_key(store, "read")
    assert client.get("/api/v1/alerts").status_code == 401
    body = client.get("/api/v1/alerts", headers=_auth(read)).json()
    (alert,) = body["alerts"]
    assert alert["rule"] == "errors" and alert["state"] == "firing"
    assert alert["level"] == "critical" and alert["value"] == 20.0
    assert alert["labels"] == {"alertname": "errors", "service": "api", "severity": "critical"}
    assert alert["fired_at"] == "2026-01-01T00:00:10Z"
    other = client.get("/api/v1/alerts", params={"service": "web"}, headers=_auth(read))
    assert other.json() == {"alerts": []}
    history = client.get("/api/v1/alerts/history", headers=_auth(read)).json()["transitions"]
    assert [(t["from_state"], t["to_state"], t["level"]) for t in history] == [
        ("inactive", "firing", "critical")
    ]
    bad = client.get("/api/v1/alerts/history", params={"limit": 0}, headers=_auth(read))
    assert bad.status_code == 422 and "limit" in bad.text


def test_silences_api(store: Store, client: httpx.Client) -> None:
    """Admin creates and expires silences; a read key lists them and cannot create."""
    admin, read = create_key(store, "admin"), create_key(store, "read")
    body = {
        "matchers": [{"name": "alertname", "value": "errors", "isRegex": False}],
        "duration": "2h",
        "createdBy": "ana",
        "comment": "deploy",
    }
    assert client.post("/api/v1/silences", json=body, headers=_auth(read)).status_code == 403
    made = client.post("/api/v1/silences", json=body, headers=_auth(admin))
    assert made.status_code == 201, made.text
    silence_id = made.json()["silenceID"]
    assert made.json()["status"] == {"state": "active"}
    listed = client.get("/api/v1/silences", headers=_auth(read)).json()["silences"]
    assert [s["id"] for s in listed] == [silence_id]
    assert listed[0]["matchers"] == [
        {"name": "alertname", "value": "errors", "isRegex": False, "isEqual": True}
    ]
    gone = client.delete(f"/api/v1/silences/{silence_id}", headers=_auth(admin))
    assert gone.status_code == 200
    assert client.get("/api/v1/silences", headers=_auth(read)).json() == {"silences": []}
    again = client.delete(f"/api/v1/silences/{silence_id}", headers=_auth(admin))
    assert again.status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"matchers": [], "duration": "1h"}, "matchers"),
        ({"matchers": {"alertname": "x"}}, "endsAt"),
        ({"matchers": {"alertname": "x"}, "duration": "soon"}, "duration"),
        ({"matchers": [{"name": "a", "value": "(", "isRegex": True}], "duration": "1h"}, "regex"),
    ],
)
def test_bad_silence_is_422(
    store: Store, client: httpx.Client, body: dict[str, object], field: str
) -> None:
    """A bad silence gets 422 naming what is wrong; nothing is stored."""
    admin = create_key(store, "admin")
    answer = client.post("/api/v1/silences", json=body, headers=_auth(admin))
    assert answer.status_code == 422
    assert field in answer.text
    assert client.get("/api/v1/silences", headers=_auth(admin)).json() == {"silences": []}


def test_rules_listed(store: Store, client: httpx.Client) -> None:
    """The rules endpoint lists the shipped rules with defaults filled in."""
    read = create_key(store, "read")
    rules = {
        r["name"]: r
        for r in client.get("/api/v1/alerts/rules", headers=_auth(read)).json()["rules"]
    }
    assert rules["high_error_rate"]["warning"] == 5 and rules["high_error_rate"]["critical"] == 10
    assert rules["high_error_rate"]["keep_firing_for"] == 600
    assert len(rules) == 14
