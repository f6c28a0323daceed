"""The dashboard in real headless Chromium: login, cards against the API, charts, session
page, silencing an alert, live refresh, escaping, and a phone-sized screen."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _browser import have_chromium, launch, log_in
from _workload import EVIL, PASSWORD, ingest, small_workload

from chatwatch.config import Settings
from chatwatch.dashboard.format import format_value
from chatwatch.dashboard.users import create_user
from chatwatch.server import create_app
from chatwatch.store import Store
from live_server import LiveServer, bearer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not have_chromium(), reason="needs Playwright and /usr/bin/chromium"),
]


class Env:
    def __init__(self, url: str, store: Store, settings: Settings) -> None:
        self.url, self.store, self.settings = url, store, settings


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """One server for the module: the small workload and an admin, ``ana``."""
    db = tmp_path_factory.mktemp("browser") / "cw.db"
    url = f"sqlite:///{db}"
    settings = Settings(
        database_url=url, alerts_enabled=False, maintenance_interval_s=0, _env_file=None
    )  # type: ignore[call-arg]
    store = Store(url)
    ingest(store, small_workload(time.time()))
    create_user(store, "ana", PASSWORD)
    server = LiveServer(create_app(settings, store)).start()
    yield Env(server.url, store, settings)
    server.stop()
    store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, env: Env) -> Iterator[Any]:
    """A fresh logged-in page; any JavaScript dialog (an injected script) is recorded."""
    # bypass_csp: escaping must hold by itself, not only because the CSP blocks scripts
    context = browser.new_context(viewport={"width": 1366, "height": 900}, bypass_csp=True)
    p = context.new_page()
    p.dialogs = []
    p.on("dialog", lambda d: (p.dialogs.append(d.message), d.dismiss()))
    p.errors = []
    p.on("pageerror", lambda e: p.errors.append(str(e)))
    log_in(p, env.url, "ana", PASSWORD)
    yield p
    assert p.dialogs == [] and p.errors == []
    context.close()


def _cards(page: Any) -> dict[str, dict[str, str]]:
    """Every number on the cards (main and sub) by metric, for the chosen window."""
    found: dict[str, dict[str, str]] = {}
    for el in page.query_selector_all("#cards [data-metric]"):
        if el.get_attribute("data-window") != "window":
            continue
        metric = el.get_attribute("data-metric")
        shown = el.query_selector(".value") or el.query_selector("b")
        found[metric] = {"value": el.get_attribute("data-value"), "text": shown.inner_text()}
    return found


def test_login_then_cards_equal_the_monitoring_api(page: Any, env: Env) -> None:
    """After logging in, the cards show the numbers /monitoring/metrics gives for 24 h."""
    assert page.url.endswith("/analytics/")
    read = bearer(env.store, "read")
    api = httpx.get(f"{env.url}/monitoring/metrics", params={"window": "24h"}, headers=read).json()
    cards = _cards(page)
    pairs = [
        ("avg_response_time_ms", api["chat"]["avg_response_time_ms"], "ms", 2),
        ("error_rate", api["performance"]["error_rate"], "percent", 2),
        ("rag_avg_similarity", api["rag"]["avg_similarity_score"], "ratio", 3),
        ("total_requests", api["chat"]["total_requests"], "count", 0),
    ]
    for metric, want, unit, digits in pairs:
        got = float(cards[metric]["value"])
        assert round(got, digits) == want, metric
        assert cards[metric]["text"] == format_value(want, unit), metric
    assert cards["total_requests"]["text"] == "4"
    success = page.query_selector('#cards [data-card="success"]')
    assert "level-critical" in success.get_attribute("class")


def test_every_chart_is_drawn_with_data(page: Any) -> None:
    """Each chart has an SVG with marks (bars, lines, points) in it."""
    charts = page.query_selector_all("#charts figure[data-chart]")
    assert len(charts) == 12
    for chart in charts:
        name = chart.get_attribute("data-chart")
        assert chart.query_selector(".plot svg") is not None, name
        assert len(chart.query_selector_all(".plot svg .mark")) > 0, name


def test_user_typed_markup_shows_as_text(page: Any, env: Env) -> None:
    """A user id and escalation reason named <script>alert(1)</script> are just text."""
    assert EVIL in page.locator("#recent_sessions").inner_text()
    assert EVIL in page.locator("#escalated_sessions").inner_text()
    assert page.evaluate("document.querySelectorAll('#charts script, #tables script').length") == 0
    page.goto(f"{env.url}/analytics/session?service=default&id=s-esc")
    assert EVIL in page.locator(".facts").inner_text()


def test_session_page_opens_from_the_table(page: Any) -> None:
    """Clicking a recent session's row opens its run view with turns and their calls."""
    page.locator("#recent_sessions tr.link-row", has_text="s-ok").locator("td").nth(2).click()
    page.wait_for_selector(".runs")
    assert "/analytics/session?" in page.url and "id=s-ok" in page.url
    runs = page.locator(".run")
    assert runs.count() == 2
    first = runs.nth(0)
    assert first.locator(".span-llm_call").count() == 1
    assert first.locator(".span-rag_search").count() == 1
    assert "5★" in first.inner_text()
    width = first.locator(".span-llm_call .span-bar").evaluate("e => e.offsetWidth")
    assert width > 10


def test_range_picker_and_filters_refetch_without_reload(page: Any) -> None:
    """Choosing a range or a model fetches new data in place and keeps it in the address."""
    page.evaluate("window.__same_page = true")
    with page.expect_response(lambda r: "/api/data?window=7d" in r.url):
        page.click('button[data-window="7d"]')
    page.wait_for_function("document.querySelector('[data-window=\"7d\"].active') !== null")
    assert "window=7d" in page.url
    assert page.locator("[data-chart=sessions] figcaption").inner_text() == "Sessions per day"
    with page.expect_response(lambda r: "model=glm-4" in r.url):
        page.select_option("#model", "glm-4")
    page.wait_for_function(
        "document.querySelectorAll('[data-chart=llm_calls] svg text.label').length === 1"
    )
    assert page.evaluate("window.__same_page") is True


def test_custom_range(page: Any) -> None:
    """The custom range takes a start and an end and shows that window."""
    page.click('button[data-window="custom"]')
    page.fill("#start", time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() - 7200)))
    page.fill("#end", time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() + 120)))
    with page.expect_response(lambda r: "start=" in r.url and r.status == 200):
        page.click("#custom-range button[type=submit]")
    page.wait_for_function("document.querySelector('[data-window=\"custom\"].active') !== null")
    assert page.locator("[data-chart=sessions] figcaption").inner_text() == "Sessions per minute"


def test_live_refresh_every_30_seconds(browser: Any, env: Env) -> None:
    """After 30 s the page fetches fresh data itself and says when, without reloading."""
    context = browser.new_context(bypass_csp=True)
    p = context.new_page()
    p.clock.install()
    log_in(p, env.url, "ana", PASSWORD)
    p.evaluate("window.__same_page = true")
    assert "refreshes every 30 s" in p.locator("#status").inner_text()
    with p.expect_response(lambda r: "/api/data" in r.url, timeout=10_000):
        p.clock.fast_forward(31_000)
    p.wait_for_timeout(200)
    assert p.evaluate("window.__same_page") is True
    assert "UTC" in p.locator("#updated-at").inner_text()
    context.close()


def test_silence_button_creates_a_silence(page: Any, env: Env) -> None:
    """A firing alert's Silence button stores a silence for its labels, by the logged-in user."""
    alerts = pytest.importorskip("chatwatch.alerts", reason="the alerts package has not landed")
    rule = alerts.Rule(
        name="high_error_rate", metric="error_rate", warning=5, critical=10, window="1h"
    )
    alerts.evaluate(env.store, env.settings, [rule], now=time.time(), deliver=False)
    page.reload()
    row = page.locator("#alerts tr[data-fingerprint]", has_text="high_error_rate")
    assert "firing" in row.inner_text()
    row.locator("input[name=comment]").fill("deploying a fix")
    row.locator("button", has_text="Silence").click()
    page.wait_for_selector("#alerts .silences li")
    silences = alerts.list_silences(env.store)
    assert len(silences) == 1
    matchers = {m.name: m.value for m in silences[0].matchers}
    assert matchers["alertname"] == "high_error_rate" and "severity" not in matchers
    assert silences[0].created_by == "ana" and silences[0].comment == "deploying a fix"
    assert "silenced" in page.locator("#alerts tr[data-fingerprint]").first.inner_text()


def test_logout_button(page: Any, env: Env) -> None:
    """Log out goes to the login page and the dashboard asks for a login again."""
    page.click("text=Log out")
    page.wait_for_url("**/analytics/login")
    page.goto(f"{env.url}/chat/analytics/")
    assert "/chat/analytics/login" in page.url


def test_phone_screen_has_no_sideways_scroll(browser: Any, env: Env) -> None:
    """On a phone-sized screen the overview fits its width and the charts are drawn."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    p = context.new_page()
    log_in(p, env.url, "ana", PASSWORD)
    width = p.evaluate("document.documentElement.scrollWidth")
    assert width <= 392
    assert p.locator("#charts svg").count() == 12
    context.close()


def test_empty_store_draws_placeholders(browser: Any, tmp_path: Path) -> None:
    """A fresh install (no events yet) shows dashes and "no data", without script errors."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    settings = Settings(
        database_url=url, alerts_enabled=False, maintenance_interval_s=0, _env_file=None
    )  # type: ignore[call-arg]
    store = Store(url)
    create_user(store, "ana", PASSWORD)
    server = LiveServer(create_app(settings, store)).start()
    context = browser.new_context()
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    try:
        log_in(p, server.url, "ana", PASSWORD)
        assert p.locator("#cards [data-card=response] .value").inner_text() == "—"
        assert p.locator("#charts .plot[data-empty]").count() == 12
        assert p.locator("#recent_sessions .empty").inner_text() == "No sessions in this range."
        assert errors == []
    finally:
        context.close()
        server.stop()
        store.close()
