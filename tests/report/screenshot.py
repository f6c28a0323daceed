"""Make docs/daily-report.png: the daily report of a demo-like day, rendered to HTML and
photographed by headless Chromium (Debian's, never downloaded).

    .venv/bin/python tests/report/screenshot.py [OUT.png]
"""

from __future__ import annotations

import random
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

from playwright.sync_api import sync_playwright

from chatwatch.alerts import evaluate, parse_rules
from chatwatch.config import Settings
from chatwatch.events import Event, Feedback, LLMCall, RAGSearch, SessionStarted, Turn
from chatwatch.metrics import Catalogue
from chatwatch.report import build_report, render_html
from chatwatch.store import Store

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]
DOCS = Path(__file__).resolve().parents[2] / "docs"
DAY = date(2026, 3, 10)
MODELS = (
    ("llama-3.1-8b-instant", 0.6, 620),
    ("llama-3.3-70b-versatile", 0.3, 1350),
    ("glm-4", 0.1, 1900),
)
TOPICS = ("billing", "shipping", "returns", "account", "product info", "complaints")


def _day(store: Store, start: float, seed: int, error_bias: float) -> None:
    """A day of traffic shaped like office hours, with an incident in the afternoon."""
    rng = random.Random(seed)
    events: list[Event] = []
    n = 0
    for hour in range(24):
        volume = int(40 + 260 * max(0.0, 1 - abs(hour - 14) / 8) ** 1.5)
        failing = error_bias * (6 if hour in (15, 16) else 1)
        for _ in range(volume):
            n += 1
            ts = datetime.fromtimestamp(start + hour * 3600 + rng.random() * 3599, UTC)
            ok = rng.random() > failing
            model, _, latency = rng.choices(MODELS, weights=[m[1] for m in MODELS])[0]
            events.append(
                Turn(
                    id=f"d{seed}t{n}",
                    ts=ts,
                    type="turn",
                    service="sophie",
                    response_time_ms=rng.gauss(latency + 250, 150),
                    success=ok,
                    error_type=None if ok else "RateLimit",
                    cached=rng.random() < 0.34,
                    topic=rng.choices(TOPICS, weights=[30, 22, 15, 12, 12, 9])[0],
                    tokens=rng.randint(300, 900),
                    rag_used=True,
                    rag_found=rng.random() < 0.93,
                )
            )
            events.append(
                LLMCall(
                    id=f"d{seed}l{n}",
                    ts=ts,
                    type="llm_call",
                    service="sophie",
                    model=model,
                    latency_ms=max(50.0, rng.gauss(latency, 120)),
                    input_tokens=rng.randint(300, 700),
                    output_tokens=rng.randint(60, 200),
                )
            )
            events.append(
                RAGSearch(
                    id=f"d{seed}r{n}",
                    ts=ts,
                    type="rag_search",
                    service="sophie",
                    similarity=min(1.0, max(0.0, rng.gauss(0.66, 0.08))),
                    results=rng.randint(1, 5),
                    search_time_ms=rng.gauss(45, 10),
                )
            )
            if rng.random() < 0.2:
                events.append(
                    SessionStarted(
                        id=f"d{seed}s{n}",
                        ts=ts,
                        type="session_started",
                        service="sophie",
                        session_id=f"s{seed}-{n}",
                    )
                )
            if rng.random() < 0.05:
                events.append(
                    Feedback(
                        id=f"d{seed}f{n}",
                        ts=ts,
                        type="feedback",
                        service="sophie",
                        rating=rng.choices([1, 2, 3, 4, 5], [3, 5, 15, 40, 37])[0],
                    )
                )
    store.ingest(events)


def write(out: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'report.db'}"
        settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
        store = Store(url)
        start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC).timestamp()
        _day(store, start - 86400, 1, 0.02)
        _day(store, start, 2, 0.025)
        rules = parse_rules(
            {
                "rules": [
                    {
                        "name": "high_error_rate",
                        "metric": "error_rate",
                        "window": "15m",
                        "min_samples": 20,
                    }
                ]
            }
        )
        for minute in range(0, 24 * 60, 5):
            evaluate(store, settings, rules, now=start + minute * 60 + 30, deliver=False)
        report = build_report(Catalogue(store, settings), DAY, "sophie", rules)
        store.close()
        page_file = Path(tmp) / "report.html"
        page_file.write_text(render_html(report, settings), encoding="utf-8")
        shoot(page_file, out)
    return out


def shoot(html: Path, out: Path) -> int:
    """Photograph ``html``; returns how many chart bars the browser drew."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 860, "height": 900}, device_scale_factor=1)
        page.goto(html.as_uri())
        page.wait_for_selector("#chart svg")
        bars = int(page.locator("#chart svg rect").count())
        page.screenshot(path=str(out), full_page=True)
        browser.close()
    return bars


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS / "daily-report.png"
    print(write(target))
