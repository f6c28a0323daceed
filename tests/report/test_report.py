"""The daily report: numbers from the catalogue against guide 003's targets, the HTML file,
and the e-mail with its chart inline."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from report_helpers import DAY, DAY_START, Outbox, report_database, running_mail
from typer.testing import CliRunner

from chatwatch.alerts import evaluate, parse_rules
from chatwatch.cli import app
from chatwatch.config import Settings
from chatwatch.metrics import Catalogue
from chatwatch.report import Report, build_report, render_html
from chatwatch.report.chart import BarChart, Series, nice_max, png
from chatwatch.store import Store


@pytest.fixture
def report_db(tmp_path: Path) -> str:
    return report_database(str(tmp_path / "report.db"))


@pytest.fixture
def mail_server() -> Iterator[Outbox]:
    with running_mail() as box:
        yield box


def _settings(url: str) -> Settings:
    return Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]


def _build(url: str, fire_alert: bool = True) -> Report:
    store = Store(url)
    try:
        if fire_alert:
            rules = parse_rules(
                {
                    "rules": [
                        {
                            "name": "errors",
                            "metric": "error_rate",
                            "window": "24h",
                            "min_samples": 10,
                        }
                    ]
                }
            )
            evaluate(store, _settings(url), rules, now=DAY_START + 18 * 3600)
        return build_report(Catalogue(store, _settings(url)), DAY)
    finally:
        store.close()


def test_kpis_against_targets(report_db: str) -> None:
    """Each KPI has the workload's value, guide 003's target, a mark and the day's change."""
    report = _build(report_db)
    kpis = {k.target.metric: k for k in report.kpis}
    expected = {
        "total_requests": (100, "info"),
        "error_rate": (8.0, "fail"),
        "success_rate": (92.0, "fail"),
        "avg_response_time_ms": (1200.0, "fail"),
        "cache_hit_rate": (25.0, "fail"),
        "tokens_per_request": (600.0, "pass"),
        "rag_success_rate": (95.0, "pass"),
        "satisfaction": (4.2, "pass"),
        "rag_avg_similarity": (None, "no data"),
    }
    for metric, (value, mark) in expected.items():
        assert kpis[metric].value == pytest.approx(value), metric
        assert kpis[metric].mark == mark, metric
    assert kpis["error_rate"].previous == pytest.approx(2.0)
    assert kpis["error_rate"].change == pytest.approx(6.0)
    assert kpis["error_rate"].better is False
    assert kpis["avg_response_time_ms"].change == pytest.approx(400.0)
    assert (report.passed, report.failed) == (4, 5)


def test_models_topics_alerts_and_hours(report_db: str) -> None:
    """Per-model latency and cost with guide 003's 8B/70B targets, topics, alerts, hours."""
    report = _build(report_db)
    models = {m.model: m for m in report.models}
    small, large = models["llama-3.1-8b-instant"], models["llama-3.3-70b-versatile"]
    assert (small.calls, small.avg_latency_ms, small.target_ms, small.mark) == (
        40,
        600,
        800,
        "pass",
    )
    assert (large.calls, large.avg_latency_ms, large.target_ms, large.mark) == (
        20,
        1800,
        1500,
        "fail",
    )
    assert small.cost_usd == pytest.approx(0.40) and large.tokens == 10_000
    assert small.share == pytest.approx(200 / 3)
    assert report.topics == {"billing": 60.0, "shipping": 40.0}
    assert [(a.rule, a.level, a.value) for a in report.alerts] == [("errors", "warning", 8.0)]
    assert len(report.hours) == 24 and report.hours[8] == "08"
    assert report.requests_per_hour[8:18] == [10.0] * 10
    assert sum(report.requests_per_hour) == 100 and sum(report.errors_per_hour) == 8


def test_html_file_from_cli(report_db: str, tmp_path: Path) -> None:
    """`chatwatch report --date D --out FILE` writes a self-contained HTML file with a chart."""
    _build(report_db)
    out = tmp_path / "daily.html"
    result = CliRunner().invoke(
        app, ["report", "--date", DAY.isoformat(), "--out", str(out), "--db", report_db]
    )
    assert result.exit_code == 0, result.output
    assert "4 pass, 5 fail" in result.output
    html = out.read_text()
    assert "<svg" in html and html.count("<rect") >= 10
    assert "8.0%" in html and "&lt; 5.0%" in html  # error rate and its target
    assert "&#10004; pass" in html and "&#10008; fail" in html
    assert "+6.0 pts (+300%)" in html  # change against the day before, in points
    assert "billing" in html and "llama-3.3-70b-versatile" in html
    assert not re.search(
        r"""(src|href)=["']https?://(?!127\.0\.0\.1)""", html.split("dashboard")[0]
    )
    assert "<script" not in html


def test_default_file_name(report_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --email or --out the report goes to chatwatch-report-DATE.html."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["report", "--date", DAY.isoformat(), "--db", report_db])
    assert result.exit_code == 0, result.output
    assert (tmp_path / f"chatwatch-report-{DAY.isoformat()}.html").exists()


def test_email_with_inline_chart(
    report_db: str, mail_server: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--email` sends text and HTML; the HTML shows the chart PNG by Content-ID."""
    _build(report_db)
    monkeypatch.setenv("CHATWATCH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CHATWATCH_SMTP_PORT", str(mail_server.port))
    monkeypatch.setenv("CHATWATCH_SMTP_SECURITY", "none")
    monkeypatch.setenv("CHATWATCH_ALERT_EMAILS", "team@example.com")
    result = CliRunner().invoke(
        app, ["report", "--date", DAY.isoformat(), "--email", "--db", report_db]
    )
    assert result.exit_code == 0, result.output
    (mail,) = mail_server.messages
    assert mail["Subject"] == "chatwatch daily report 2026-03-10: 4 pass, 5 fail"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Error rate" in text and "8.0%" in text and "fail" in text
    html = mail.get_body(("related", "html"))
    assert html is not None
    cid = re.search(r'src="cid:([^"]+)"', html.get_body(("html",)).get_content()).group(1)  # type: ignore[union-attr]
    images = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1 and images[0]["Content-ID"] == f"<{cid}>"
    assert images[0].get_content().startswith(b"\x89PNG\r\n\x1a\n")
    assert "<svg" not in html.get_body(("html",)).get_content()  # type: ignore[union-attr]


def test_email_failure_exits_1(report_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unreachable SMTP server makes `report --email` exit 1 with the reason."""
    monkeypatch.setenv("CHATWATCH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CHATWATCH_SMTP_PORT", "1")
    monkeypatch.setenv("CHATWATCH_SMTP_SECURITY", "none")
    monkeypatch.setenv("CHATWATCH_ALERT_EMAILS", "team@example.com")
    result = CliRunner().invoke(
        app, ["report", "--date", DAY.isoformat(), "--email", "--db", report_db]
    )
    assert result.exit_code == 1
    assert "e-mail failed" in result.output


def test_png_chart_is_a_valid_image() -> None:
    """The hand-made PNG decodes: signature, IHDR size, and bar colours in the pixels."""
    chart = BarChart(["00", "01"], [Series("ok", [5.0, 10.0], (37, 99, 235))])
    data = png(chart)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 720 and int.from_bytes(data[20:24], "big") == 240
    import zlib

    idat = data.index(b"IDAT")
    size = int.from_bytes(data[idat - 4 : idat], "big")
    raw = zlib.decompress(data[idat + 4 : idat + 4 + size])
    assert bytes((37, 99, 235)) in raw
    assert [nice_max(v) for v in (0, 7, 253, 1000)] == [4, 8, 400, 1000]


def test_html_without_data(tmp_path: Path) -> None:
    """An empty day renders with 'no data' marks instead of failing."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    store = Store(url)
    try:
        report = build_report(Catalogue(store, _settings(url)), DAY)
    finally:
        store.close()
    html = render_html(report, _settings(url))
    assert "no data" in html and "No alerts fired." in html and "No model calls" in html
