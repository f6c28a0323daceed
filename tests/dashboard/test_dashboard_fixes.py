"""Dashboard fixes, in real headless Chromium: token counts from 10 k to 1 M, round axis
ticks in one unit per axis, the current partial bucket marked, thumbs drawn without an
emoji font, escalated sessions in time order."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from _browser import have_chromium, launch, log_in
from _workload import PASSWORD

from chatwatch.config import Settings
from chatwatch.dashboard.format import format_value
from chatwatch.dashboard.users import create_user
from chatwatch.events import parse_events
from chatwatch.server import create_app
from chatwatch.store import Store
from live_server import LiveServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not have_chromium(), reason="needs Playwright and /usr/bin/chromium"),
]

TOKENS = 640_501


def _events(now: float) -> list[dict[str, Any]]:
    evs: list[dict[str, Any]] = []
    # escalations made in an order that differs from the sessions' last activity
    for n, (escalated_ago, last_ago) in enumerate(((900, 100), (300, 800), (600, 50))):
        sid = f"esc-{n}"
        evs += [
            {
                "id": f"{sid}-t",
                "type": "turn",
                "ts": now - 1000,
                "session_id": sid,
                "response_time_ms": 900.0 + n * 700,
                "tokens": 10,
            },
            {
                "id": f"{sid}-e",
                "type": "escalation",
                "ts": now - escalated_ago,
                "session_id": sid,
                "reason": "human",
            },
            {
                "id": f"{sid}-m",
                "type": "message",
                "ts": now - last_ago,
                "session_id": sid,
                "sender_type": "agent",
            },
        ]
    evs.append(
        {
            "id": "big-llm",
            "type": "llm_call",
            "ts": now - 500,
            "session_id": "esc-0",
            "run_id": "esc-0-t",
            "model": "gpt-4o-mini",
            "input_tokens": TOKENS - 1,
            "output_tokens": 1,
            "latency_ms": 1200.0,
        }
    )
    for thumbs in ("up", "down"):
        evs.append(
            {
                "id": f"fb-{thumbs}",
                "type": "feedback",
                "ts": now - 400,
                "session_id": "esc-1",
                "thumbs": thumbs,
            }
        )
    return evs


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('fixes') / 'cw.db'}"
    settings = Settings(
        database_url=url, alerts_enabled=False, maintenance_interval_s=0, _env_file=None
    )  # type: ignore[call-arg]
    store = Store(url)
    store.ingest(parse_events(_events(time.time())))
    create_user(store, "ana", PASSWORD)
    server = LiveServer(create_app(settings, store)).start()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        pg = browser.new_page(viewport={"width": 1366, "height": 900})
        log_in(pg, server.url, "ana", PASSWORD)
        yield pg, server.url
        browser.close()
    server.stop()
    store.close()


def test_token_counts_between_10k_and_1m(page: tuple[Any, str]) -> None:
    """640,501 tokens read 640.5k on the card (was 64.1k), as on the charts."""
    assert format_value(TOKENS, "tokens") == "640.5k"
    assert format_value(12_345, "tokens") == "12.3k"
    assert format_value(2_500_000, "tokens") == "2.5M"
    assert format_value(9_999, "tokens") == "9,999"
    pg, _ = page
    card = pg.inner_text('#cards [data-metric="llm_tokens"]')
    assert "640.5k" in card


def _axis_labels(pg: Any) -> list[list[str]]:
    """The y-axis labels of each time chart."""
    return pg.evaluate(
        """() => [...document.querySelectorAll('#charts svg')].map(svg =>
            [...svg.querySelectorAll('text.tick[text-anchor="end"]')]
              .filter(t => !t.classList.contains('partial-label')).map(t => t.textContent))"""
    )


def test_axis_ticks_are_round_and_in_one_unit(page: tuple[Any, str]) -> None:
    """Every axis steps by 1, 2, 2.5 or 5 times a power of ten from 0, and writes all its
    ticks in one unit with the same decimals."""
    pg, _ = page
    axes = [a for a in _axis_labels(pg) if a]
    assert axes
    for labels in axes:
        units = {re.sub(r"[-\d.,$]", "", label).strip() for label in labels}
        assert len(units) == 1, labels
        decimals = {
            len(label.split(".")[1].rstrip("%smkMB ")) if "." in label else 0 for label in labels
        }
        assert len(decimals) == 1, labels
        values = [float(re.sub(r"[^\d.]", "", label)) for label in labels]
        assert values[0] == 0
        step = values[1] - values[0]
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert round(mantissa, 6) in (1, 2, 2.5, 5), labels
        assert all(abs(v - i * step) < step * 1e-6 for i, v in enumerate(values)), labels


def test_the_current_bucket_is_marked_partial(page: tuple[Any, str]) -> None:
    """The 24 h charts shade the current hour and label it partial, instead of drawing
    what looks like a drop in traffic."""
    pg, _ = page
    assert pg.locator("#charts .partial-bg").count() >= 1
    assert "partial" in pg.inner_text("#charts")


def test_escalations_in_time_order_and_thumbs_as_svg(page: tuple[Any, str]) -> None:
    """The escalated-sessions table is newest escalation first; thumbs on a session page
    are SVG drawings with a text label, not emoji."""
    pg, url = page
    rows = pg.eval_on_selector_all(
        "#escalated_sessions tbody tr td:first-child", "cells => cells.map(c => c.textContent)"
    )
    assert rows == ["esc-1", "esc-2", "esc-0"]
    pg.goto(f"{url}/analytics/session?service=default&id=esc-1")
    thumbs = pg.locator("svg.thumb")
    assert thumbs.count() == 2
    assert {thumbs.nth(i).get_attribute("aria-label") for i in range(2)} == {
        "thumbs up",
        "thumbs down",
    }
    assert "👍" not in pg.content() and "👎" not in pg.content()
