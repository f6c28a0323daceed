"""KPI colouring in real headless Chromium: each figure with a target (the daily report's
``TARGETS``) is marked met (green), missed (amber) or no data (grey); the RAG success rate
is a KPI card of its own."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _browser import have_chromium, launch, log_in
from _workload import PASSWORD, ingest

from chatwatch.config import Settings
from chatwatch.dashboard.users import create_user
from chatwatch.report.data import TARGET_OF
from chatwatch.server import create_app
from chatwatch.store import Store
from live_server import LiveServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not have_chromium(), reason="needs Playwright and /usr/bin/chromium"),
]
GREEN, AMBER = "rgb(18, 163, 109)", "rgb(199, 124, 2)"  # --ok, --warning


def _turns(now: float) -> list[dict[str, Any]]:
    """Ten turns a few minutes old, two failed (success 80 %: below the 95 % target),
    answered in 300 ms (below the 1000 ms target), every one retrieving and finding
    something (RAG success 100 %: above 90 %); no ratings (satisfaction has no data)."""
    return [
        {
            "id": f"k{i}",
            "type": "turn",
            "ts": now - 600 + i,
            "session_id": f"s{i}",
            "user_type": "customer",
            "response_time_ms": 300.0,
            "success": i >= 2,
            "error_type": "TimeoutError" if i < 2 else None,
            "rag_used": True,
            "rag_found": True,
        }
        for i in range(10)
    ]


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    url = f"sqlite:///{tmp_path / 'kpi.db'}"
    settings = Settings(
        database_url=url, alerts_enabled=False, maintenance_interval_s=0, _env_file=None
    )  # type: ignore[call-arg]
    store = Store(url)
    ingest(store, _turns(time.time()))
    create_user(store, "ana", PASSWORD)
    server = LiveServer(create_app(settings, store)).start()
    try:
        with sync_playwright() as pw:
            browser = launch(pw)
            p = browser.new_page(viewport={"width": 1366, "height": 900})
            p.errors = []
            p.on("pageerror", lambda e: p.errors.append(str(e)))
            log_in(p, server.url, "ana", PASSWORD)
            yield p
            assert p.errors == []
            browser.close()
    finally:
        server.stop()
        store.close()


def _card(page: Any, key: str) -> tuple[set[str], str, str]:
    card = page.locator(f'#cards [data-card="{key}"]')
    classes = set((card.get_attribute("class") or "").split())
    colour = card.locator(".value").evaluate("e => getComputedStyle(e).color")
    return classes, colour, card.get_attribute("title") or ""


def test_kpis_are_marked_met_missed_or_no_data(page: Any) -> None:
    """Below target: the miss class (amber); above: met (green); no data: neither, grey;
    a figure with no target carries no mark. Targets are the report's."""
    success, colour, title = _card(page, "success")
    assert "kpi-miss" in success and "kpi-met" not in success and colour == AMBER
    goal = TARGET_OF["success_rate"].goal
    assert title.startswith("target > ") and f"{goal:g}" in title and title.endswith("missed")

    rag, colour, title = _card(page, "rag_success")
    assert "kpi-met" in rag and "kpi-miss" not in rag and colour == GREEN
    assert page.locator('#cards [data-card="rag_success"] .value').inner_text() == "100.0%"
    assert "guide 003" in title

    response, colour, _ = _card(page, "response")
    assert "kpi-met" in response and colour == GREEN  # 300 ms, target < 1000 ms

    satisfaction, colour, title = _card(page, "satisfaction")
    assert "kpi-met" not in satisfaction and "kpi-miss" not in satisfaction
    assert "kpi-nodata" in satisfaction and colour not in (GREEN, AMBER)
    assert title.endswith("no data")

    sessions, _, title = _card(page, "sessions")
    assert not any(c.startswith("kpi-") for c in sessions) and title == ""

    # a sub figure with a target is marked too: the error rate (20 %, target < 5 %)
    error = page.locator('#cards [data-card="success"] li[data-metric="error_rate"]')
    assert "kpi-miss" in (error.get_attribute("class") or "").split()
    assert error.locator("b").evaluate("e => getComputedStyle(e).color") == AMBER
