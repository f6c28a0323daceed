"""The runbook the shipped rules link to: served by chatwatch (behind the login), one
anchored section per shipped rule, the same text as docs/alerts.md's Runbooks."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import httpx
from alert_helpers import make_settings

from chatwatch.alerts import load_rules
from chatwatch.server import create_app
from chatwatch.server.runbook import render_runbook

DOC = (Path(__file__).parents[2] / "docs" / "alerts.md").read_text()


def test_runbook_is_the_docs_section() -> None:
    """The packaged runbook is docs/alerts.md's Runbooks section, word for word."""
    packaged = files("chatwatch.alerts").joinpath("runbook.md").read_text()
    body = packaged.removeprefix("# chatwatch runbook\n\n")
    assert DOC.endswith(body)


def test_every_shipped_rule_has_its_anchor() -> None:
    """Each shipped rule's runbook link lands on a section that says what it means, what
    it does with no data, and how to tune it."""
    page = render_runbook()
    for rule in load_rules():
        path, anchor = rule.runbook_url.split("#")
        assert path == "/analytics/runbook"
        start = page.index(f'<h2 id="{anchor}">')
        section = page[start : page.find("<h2", start + 1)]
        for words in ("Means", "No data", "Tune"):
            assert f"<strong>{words}</strong>" in section, (rule.name, words)


def test_runbook_page_needs_a_login(tmp_path: Path, make_server: type) -> None:
    """Without a login the page redirects to the dashboard's login, coming back after."""
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'cw.db'}", alerts_enabled=False))
    server = make_server(app).start()
    try:
        response = httpx.get(f"{server.url}/analytics/runbook", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/analytics/login?next=")
    finally:
        server.stop()
        app.state.chatwatch.store.close()
