"""The daily report rendered by headless Chromium (Debian's), as the README's picture is."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_helpers import DAY, report_database

from chatwatch.config import Settings
from chatwatch.metrics import Catalogue
from chatwatch.report import build_report, render_html
from chatwatch.store import Store

pytestmark = pytest.mark.browser


@pytest.fixture
def report_db(tmp_path: Path) -> str:
    return report_database(str(tmp_path / "report.db"))


def test_report_renders_in_chromium(report_db: str, tmp_path: Path) -> None:
    """Chromium draws the report with its chart (one bar per hour with traffic) to a PNG."""
    pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian's chromium is not installed")
    from screenshot import shoot

    settings = Settings(database_url=report_db, _env_file=None)  # type: ignore[call-arg]
    store = Store(report_db)
    try:
        report = build_report(Catalogue(store, settings), DAY)
    finally:
        store.close()
    page = tmp_path / "report.html"
    page.write_text(render_html(report, settings), encoding="utf-8")
    out = tmp_path / "report.png"
    bars = shoot(page, out)
    assert bars == 10 + 8  # ten busy hours, eight of them with a failed part
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 860
    assert int.from_bytes(data[20:24], "big") > 900  # the whole page, not just the viewport
