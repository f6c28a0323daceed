"""Make docs/dashboard-overview.png, docs/dashboard-session.png, docs/dashboard-sessions.png
and docs/dashboard-run.png from demo-style data.

    .venv/bin/python tests/dashboard/screenshots.py [--phone]

A day and a half of traffic, an incident in the last half hour (failed LLM calls) that
makes the default high_error_rate rule fire, a logged-in admin, headless Chromium.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from _browser import launch, log_in  # noqa: E402
from _workload import PASSWORD, fill_traffic, ingest  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from chatwatch.alerts import evaluate  # noqa: E402
from chatwatch.config import Settings  # noqa: E402
from chatwatch.dashboard.tables import session_href  # noqa: E402
from chatwatch.dashboard.users import create_user  # noqa: E402
from chatwatch.server import create_app  # noqa: E402
from chatwatch.store import Store  # noqa: E402
from live_server import LiveServer  # noqa: E402

DOCS = HERE.parent.parent / "docs"


def _incident(store: Store, now: float) -> None:
    """Rate-limited LLM calls for the last 30 minutes: failed turns in a few sessions."""
    rng = random.Random(3)
    events = []
    for i in range(90):
        ts = now - 1800 + i * 20 + rng.random() * 5
        sid, run = f"inc-{i // 3}", f"inc-r{i}"
        who = {"session_id": sid, "user_id": f"user-{1000 + i // 3}", "user_type": "customer"}
        llm = {"run_id": run, "model": "llama-3.3-70b-versatile", "latency_ms": 240.0}
        events += [
            {
                "id": f"inc-l{i}",
                "type": "llm_call",
                "ts": ts - 0.1,
                "success": False,
                "error_type": "RateLimitError",
                **llm,
                **who,
            },
            {
                "id": f"inc-t{i}",
                "type": "turn",
                "ts": ts,
                "run_id": run,
                "success": False,
                "error_type": "RateLimitError",
                "response_time_ms": 420.0,
                "topic": "billing",
                "model": "llama-3.3-70b-versatile",
                **who,
            },
        ]
    ingest(store, events)


def _showcase(store: Store, now: float) -> str:
    """A session worth showing: escalated, with several turns and a rating."""
    found = store.escalated_sessions(now - 86400, now + 60, limit=200)
    rated = [s for s in found if s.rating_n and 3 <= s.turns <= 6] or found
    best = max(rated, key=lambda s: (s.errors > 0, s.turns))
    return session_href("/chat/analytics", best.service, best.session_id)


def _failed_run(store: Store, now: float) -> str:
    """A failed turn's run id (from the traffic, not the incident: several turns around it)."""
    turns = store.error_turns(now - 86400, now - 3600, limit=50)
    return next(t.run_id for t in turns if t.run_id)


def main(phone: bool = False) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/chatwatch.db"
        settings = Settings(
            database_url=url,
            alerts_enabled=False,
            maintenance_interval_s=0,
            monthly_budget_usd=150.0,
            _env_file=None,
        )  # type: ignore[call-arg]
        store = Store(url)
        now = time.time()
        fill_traffic(store, now, hours=36, rate=0.3, seed=11)
        _incident(store, now)
        evaluate(store, settings, now=time.time(), deliver=False)
        create_user(store, "admin", PASSWORD)
        app = create_app(settings, store)
        server = LiveServer(app).start()
        try:
            with sync_playwright() as p:
                browser = launch(p)
                size = {"width": 390, "height": 844} if phone else {"width": 1440, "height": 900}
                page = browser.new_page(viewport=size, device_scale_factor=1)
                log_in(page, server.url, "admin", PASSWORD, base="/chat/analytics")
                page.wait_for_timeout(300)
                suffix = "-phone" if phone else ""
                out = DOCS if not phone else Path(tmp).parent
                page.screenshot(path=str(out / f"dashboard-overview{suffix}.png"), full_page=True)
                if phone:
                    page.screenshot(path=str(out / "dashboard-overview-phone-top.png"))
                    page.locator("#alerts-panel").screenshot(path=str(out / "phone-alerts.png"))
                page.goto(server.url + _showcase(store, now))
                page.wait_for_selector(".runs")
                page.screenshot(path=str(out / f"dashboard-session{suffix}.png"), full_page=True)
                page.goto(server.url + "/chat/analytics/sessions?has_error=true")
                page.wait_for_selector("#sessions-table")
                page.screenshot(path=str(out / f"dashboard-sessions{suffix}.png"))
                page.goto(server.url + f"/chat/analytics/r/{_failed_run(store, now)}")
                page.wait_for_selector(".run-highlight")
                page.screenshot(path=str(out / f"dashboard-run{suffix}.png"))
                browser.close()
        finally:
            server.stop()
            store.close()


if __name__ == "__main__":
    main(phone="--phone" in sys.argv)
