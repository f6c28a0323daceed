"""The sessions explorer and run pages in real headless Chromium: filters as query
parameters, search, paging, a run URL opening its run highlighted, and the JSON download."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _browser import have_chromium, launch, log_in
from _workload import PASSWORD

from chatwatch.config import Settings
from chatwatch.dashboard.users import create_user
from chatwatch.events import parse_events
from chatwatch.server import create_app
from chatwatch.store import Store
from data_workload import workload
from live_server import LiveServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not have_chromium(), reason="needs Playwright and /usr/bin/chromium"),
]

EVENTS = workload()


def _extra(n: int, now: float) -> list[dict[str, Any]]:
    """60 more small sessions, so the list has more than one page."""
    return [
        {
            "id": f"bulk-{i}",
            "type": "turn",
            "ts": now - 3600 + i,
            "service": "bulk",
            "session_id": f"bulk-{i:03d}",
            "user_id": "bulk-user",
            "response_time_ms": 200.0,
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Store]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('sessions') / 'cw.db'}"
    settings = Settings(
        database_url=url, alerts_enabled=False, maintenance_interval_s=0, _env_file=None
    )  # type: ignore[call-arg]
    store = Store(url)
    store.ingest(parse_events(EVENTS + _extra(60, time.time())))
    create_user(store, "ana", PASSWORD)
    server = LiveServer(create_app(settings, store)).start()
    yield server.url, store
    server.stop()
    store.close()


@pytest.fixture(scope="module")
def page(env: tuple[str, Store]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(
            viewport={"width": 1366, "height": 900}, accept_downloads=True
        )
        pg = context.new_page()
        pg.errors = []
        pg.on("pageerror", lambda e: pg.errors.append(str(e)))
        log_in(pg, env[0], "ana", PASSWORD, base="/chat/analytics")
        yield pg
        assert pg.errors == []
        browser.close()


def _listed(page: Any) -> list[str]:
    return [
        a.inner_text() for a in page.query_selector_all("#sessions-table tbody tr td:first-child a")
    ]


def test_sessions_page_pages_through_every_session(page: Any, env: tuple[str, Store]) -> None:
    """The Sessions link opens the explorer; its pages (50 rows) list all 72 sessions,
    newest first, once each; "First page" returns."""
    page.click("nav.top-nav >> text=Sessions")
    page.wait_for_selector("#sessions-table")
    assert page.url.endswith("/chat/analytics/sessions")
    seen = _listed(page)
    assert len(seen) == 50
    page.click("#next-page")
    page.wait_for_selector("#first-page")
    seen += _listed(page)
    assert page.query_selector("#next-page") is None
    assert len(seen) == len(set(seen)) == 72
    assert seen[:3] == ["bulk-059", "bulk-058", "bulk-057"]
    page.click("#first-page")
    page.wait_for_selector("#sessions-table")
    assert _listed(page)[0] == "bulk-059"


def test_filters_are_query_parameters(page: Any, env: tuple[str, Store]) -> None:
    """The form's filters land in the address and keep exactly the matching sessions;
    an address with filters opens with them chosen; search finds a session by id."""
    url = env[0]
    page.goto(f"{url}/analytics/sessions")
    page.select_option('select[name="service"]', "svc-b")
    page.select_option('select[name="has_error"]', "true")
    page.click("#session-filters button[type=submit]")
    page.wait_for_load_state()
    assert "service=svc-b" in page.url and "has_error=true" in page.url
    failing = {e["session_id"] for e in EVENTS if e["type"] == "turn" and not e["success"]}
    expected = sorted({e["session_id"] for e in EVENTS if e["service"] == "svc-b"} & failing)
    assert sorted(_listed(page)) == expected
    page.goto(f"{url}/analytics/sessions?user_id=user-2&escalated=false")
    assert page.input_value('input[name="user_id"]') == "user-2"
    assert page.input_value('select[name="escalated"]') == "false"
    assert sorted(_listed(page)) == ["sess-02", "sess-07"]
    page.fill('input[name="user_id"]', "")
    page.select_option('select[name="escalated"]', "")
    page.fill('input[name="q"]', "sess-09")
    page.click("#session-filters button[type=submit]")
    page.wait_for_load_state()
    assert _listed(page) == ["sess-09"]
    page.goto(f"{url}/analytics/sessions?has_error=maybe")
    assert "has_error: true or false" in page.inner_text("[role=alert]")


def test_a_run_url_opens_the_run_highlighted(page: Any, env: tuple[str, Store]) -> None:
    """/chat/analytics/r/{run_id} opens the run's session with that run highlighted and
    scrolled to; the session page downloads its JSON; a row links to its session."""
    url = env[0]
    page.set_viewport_size({"width": 1366, "height": 500})
    page.goto(f"{url}/chat/analytics/r/run-08-2")
    page.wait_for_selector(".run-highlight")
    assert "/chat/analytics/session?" in page.url and page.url.endswith("#run-3")
    assert page.get_attribute(".run-highlight", "data-run") == "run-08-2"
    assert len(page.query_selector_all(".run-highlight")) == 1
    top = page.evaluate("document.querySelector('.run-highlight').getBoundingClientRect().top")
    assert page.evaluate("window.scrollY") > 0 and 0 <= top < 500  # scrolled to it
    page.set_viewport_size({"width": 1366, "height": 900})
    with page.expect_download() as info:
        page.click("#download-json")
    doc = json.loads(Path(info.value.path()).read_text())
    assert doc["session_id"] == "sess-08"
    assert [t["run_id"] for t in doc["turns"]] == ["run-08-0", "run-08-1", "run-08-2"]
    page.goto(f"{url}/chat/analytics/r/nope")
    assert "Run not found" in page.inner_text("h1")
    page.goto(f"{url}/chat/analytics/sessions?q=sess-08")
    page.click("#sessions-table tbody tr td:nth-child(4)")  # anywhere on the row
    page.wait_for_selector("#session-page .session-title")
    assert "sess-08" in page.inner_text(".session-title")
