"""The dashboard's data URL and pages: catalogue numbers, filters, session run view, escaping."""

from __future__ import annotations

import html
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _workload import EVIL, PASSWORD, ingest, login, page_csrf, small_workload

from chatwatch.config import Settings
from chatwatch.dashboard import alerts_view
from chatwatch.dashboard.users import create_user
from chatwatch.metrics import Catalogue
from chatwatch.server import create_app
from chatwatch.store import Store
from live_server import bearer


class Dash:
    def __init__(self, http: httpx.Client, store: Store, settings: Settings) -> None:
        self.http, self.store, self.settings = http, store, settings

    def data(self, **params: str) -> dict[str, Any]:
        r = self.http.get("/analytics/api/data", params=params)
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()
        return result


@pytest.fixture
def dash(db_url: str, make_server: type) -> Iterator[Dash]:
    """A logged-in client of the real server holding the small workload."""
    settings = Settings(
        database_url=db_url, alerts_enabled=False, maintenance_interval_s=0, _env_file=None
    )  # type: ignore[call-arg]
    store = Store(db_url)
    ingest(store, small_workload(time.time()))
    create_user(store, "ana", PASSWORD)
    live = make_server(create_app(settings, store)).start()
    with httpx.Client(base_url=live.url, timeout=20) as http:
        login(http, "ana")
        yield Dash(http, store, settings)
    store.close()


def _cards(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {c["metric"]: c for c in data["cards"]}
    for card in data["cards"]:
        for sub in card["subs"]:
            found.setdefault(sub["metric"] if sub["window"] == "window" else "", sub)
    return found


def test_cards_are_catalogue_values_and_match_the_monitoring_api(dash: Dash) -> None:
    """Each card is the catalogue's value for the window, equal to /monitoring/metrics."""
    data = dash.data(window="1h")
    cards = _cards(data)
    cat = Catalogue(dash.store, dash.settings)
    reading = cat.reading("1h")
    for name in ("avg_response_time_ms", "success_rate", "satisfaction", "escalation_rate"):
        assert cards[name]["value"] == pytest.approx(cat.value(name, reading))
    read = bearer(dash.store, "read")
    api = dash.http.get("/monitoring/metrics", params={"window": "1h"}, headers=read).json()
    assert api["chat"]["total_requests"] == cards["total_requests"]["value"] == 4
    assert api["chat"]["avg_response_time_ms"] == round(cards["avg_response_time_ms"]["value"], 2)
    assert api["performance"]["error_rate"] == round(cards["error_rate"]["value"], 2) == 25.0
    assert api["rag"]["avg_similarity_score"] == round(cards["rag_avg_similarity"]["value"], 3)
    assert cards["success_rate"]["display"] == "75.0%"
    assert cards["success_rate"]["level"] == "critical"  # error rate 25 % > 10 %
    assert cards["satisfaction"]["display"] == "3.00 / 5"
    sessions = next(c for c in data["cards"] if c["key"] == "sessions")
    assert sessions["value"] == 4 and sessions["window"] == "today"


def test_every_chart_has_data(dash: Dash) -> None:
    """All twelve charts come back, each with at least one non-zero value."""
    charts = {c["id"]: c for c in dash.data(window="1h")["charts"]}
    assert set(charts) == {
        "sessions",
        "response_time",
        "error_rate",
        "ratings",
        "topics",
        "cache",
        "llm_calls",
        "llm_latency",
        "llm_cost",
        "rag_similarity",
        "websocket",
        "reconnection_rate",
    }
    empty = [
        cid for cid, c in charts.items() if not any(v for s in c["series"] for v in s["values"])
    ]
    assert not empty
    assert charts["sessions"]["step"] == 60 and len(charts["sessions"]["x"]) == 60
    ratings = charts["ratings"]["series"][0]["values"]
    assert ratings == [1.0, 0.0, 0.0, 0.0, 1.0]
    topics = dict(
        zip(charts["topics"]["labels"], charts["topics"]["series"][0]["values"], strict=True)
    )
    assert topics["shipping"] == 1.0 and topics["billing"] == 1.0
    assert charts["llm_calls"]["labels"] == ["glm-4", "llama-3.1-8b-instant"]


def test_tables_list_sessions_errors_escalations_and_users(dash: Dash) -> None:
    """Recent, failed and escalated sessions and top users come from the stored sessions."""
    t = dash.data()["tables"]
    assert [s["session_id"] for s in t["recent_sessions"]] == ["evil", "s-esc", "s-bad", "s-ok"]
    assert [(e["session_id"], e["error_type"]) for e in t["error_turns"]] == [
        ("s-bad", "TimeoutError")
    ]
    assert [s["session_id"] for s in t["escalated_sessions"]] == ["s-esc"]
    assert t["escalated_sessions"][0]["reason"] == EVIL
    assert t["recent_sessions"][0]["href"] == "/analytics/session?service=default&id=evil"
    assert {u["user_id"] for u in t["top_users"]} >= {"user-s-ok"}
    # every row of every table links to its session (a failed turn to its run, which
    # opens inside its session; a top user to that user's sessions)
    for name in ("recent_sessions", "error_turns", "escalated_sessions", "top_users"):
        rows = t[name]
        assert rows, name
        for row in rows:
            href = row["href"]
            assert href.startswith(("/analytics/session?", "/analytics/r/")) or (
                name == "top_users" and href.startswith("/analytics/sessions?user_id=")
            ), (name, href)


def test_service_and_model_filters_narrow_the_numbers(dash: Dash) -> None:
    """A service filter counts only that service; a model filter narrows the LLM charts."""
    now = time.time()
    other = {
        "id": "o1",
        "type": "session_started",
        "ts": now - 60,
        "session_id": "o",
        "service": "billing-bot",
    }
    ingest(dash.store, [other])
    everything, billing = dash.data(), dash.data(service="billing-bot")
    assert _cards(everything)["sessions"]["value"] == 5
    assert _cards(billing)["sessions"]["value"] == 1
    assert billing["choices"]["services"] == ["billing-bot", "default"]
    glm = dash.data(model="glm-4")
    calls = next(c for c in glm["charts"] if c["id"] == "llm_calls")
    assert calls["labels"] == ["glm-4"]
    assert glm["filters"]["model"] == "glm-4"
    # the session cards carry no model: the page says so instead of ignoring it silently
    (said,) = [n for n in glm["notices"] if n.startswith("Not narrowed by model:")]
    assert "Sessions today" in said and "Success rate" not in said
    assert not [n for n in everything["notices"] if n.startswith("Not narrowed")]
    assert set(glm["choices"]["models"]) >= {"glm-4", "llama-3.1-8b-instant"}


def test_bad_range_is_a_422_naming_the_field(dash: Dash) -> None:
    """A window or custom range that cannot be read is refused, naming the parameter."""
    r = dash.http.get("/analytics/api/data", params={"window": "fortnight"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "window"]
    r = dash.http.get("/analytics/api/data", params={"start": "2026-01-02T00:00"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "start/end"]
    page = dash.http.get("/analytics/", params={"window": "fortnight"})
    assert page.status_code == 200 and "showing the last 24 h" in page.text


def test_custom_range(dash: Dash) -> None:
    """An explicit start and end is a custom window with its own bucket size."""
    end = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() + 120))
    start = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() - 36 * 3600))
    data = dash.data(start=start, end=end)
    assert data["window"]["label"] == "custom" and data["window"]["step"] == 3600
    assert _cards(data)["total_requests"]["value"] == 4


def test_user_text_is_escaped_in_pages(dash: Dash) -> None:
    """User ids and reasons typed by users never reach a page as markup."""
    overview = dash.http.get("/analytics/").text
    assert EVIL not in overview
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in overview
    for sid in ("s-esc", "s-ok", "evil"):
        page = dash.http.get("/analytics/session", params={"service": "default", "id": sid})
        assert page.status_code == 200
        assert EVIL not in page.text
    esc = dash.http.get("/analytics/session", params={"service": "default", "id": "s-esc"})
    assert html.escape(EVIL, quote=False) in esc.text


def test_session_page_shows_turns_with_their_calls(dash: Dash) -> None:
    """A session's turns come in order with their LLM call, RAG search, cache lookup, rating."""
    r = dash.http.get("/analytics/session", params={"service": "default", "id": "s-ok"})
    page = r.text
    assert page.index('id="run-1"') < page.index('id="run-2"')
    run1 = page[page.index('id="run-1"') : page.index('id="run-2"')]
    order = [run1.index(f"span-{kind}") for kind in ("cache_lookup", "rag_search", "llm_call")]
    assert order == sorted(order)  # the lookup, then retrieval, then the model call
    assert "llama-3.1-8b-instant" in run1 and "500 → 120 tokens" in run1
    assert "5★" in run1 and "1,100 ms" in run1
    assert "cached" in page[page.index('id="run-2"') :]
    missing = dash.http.get("/analytics/session", params={"service": "default", "id": "nope"})
    assert missing.status_code == 404 and "Session not found" in missing.text


def test_overview_works_without_the_alerts_package(
    dash: Dash, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When chatwatch.alerts is missing the page still renders and says so."""
    monkeypatch.setattr(alerts_view, "alerts_api", lambda: None)
    alerts = dash.data()["tables"]["alerts"]
    assert alerts == {"available": False, "reason": "the alerts package is not installed"}
    assert dash.http.get("/analytics/").status_code == 200
    token = page_csrf(dash.http.get("/analytics/").text)
    r = dash.http.post("/analytics/alerts/silence", data={"csrf_token": token, "fingerprint": "f"})
    assert r.status_code == 404 and "not available" in r.text
