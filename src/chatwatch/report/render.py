"""The report as HTML (a file with the chart inline as SVG, or an e-mail with the chart as
a PNG attached by Content-ID) and as plain text, from Jinja2 templates."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, Literal

from chatwatch.alerts.notify.email import new_message
from chatwatch.alerts.notify.format import dashboard_url, fmt_value, templates
from chatwatch.config import Settings
from chatwatch.report.chart import BarChart, Series, png, svg
from chatwatch.report.data import Kpi, Report

__all__ = ["chart", "email_message", "render_html", "render_text", "subject"]

_OK, _BAD = (37, 99, 235), (220, 38, 38)


def chart(report: Report) -> BarChart:
    ok = [
        max(0.0, t - e)
        for t, e in zip(report.requests_per_hour, report.errors_per_hour, strict=True)
    ]
    return BarChart(
        labels=report.hours,
        series=[Series("answered", ok, _OK), Series("failed", report.errors_per_hour, _BAD)],
    )


def _change(kpi: Kpi) -> str:
    change = kpi.change
    if change is None:
        return "-"
    if change == 0:
        return "="
    sign = "+" if change > 0 else "-"
    # a change of a percentage is in percentage points, not percent
    text = f"{abs(change):.1f} pts" if kpi.unit == "percent" else fmt_value(abs(change), kpi.unit)
    if kpi.previous:
        relative = abs(change) / abs(kpi.previous) * 100
        text += f" ({sign}{relative:.0f}%)" if relative >= 1 else f" ({sign}<1%)"
    return sign + text


def _context(report: Report, settings: Settings, image: str) -> dict[str, Any]:
    return {
        "r": report,
        "title": subject(report),
        "dashboard": dashboard_url(settings.base_url),
        "chart": image,
        "change": _change,
        "units": report.units,
        "colours": {"answered": "#2563eb", "failed": "#dc2626"},
    }


def subject(report: Report) -> str:
    scope = f" ({report.service})" if report.service else ""
    verdict = f"{report.passed} pass, {report.failed} fail"
    return f"chatwatch daily report {report.day.isoformat()}{scope}: {verdict}"


def render_html(
    report: Report, settings: Settings, mode: Literal["file", "email"] = "file", cid: str = ""
) -> str:
    """``file``: the SVG chart inline; ``email``: an ``<img src="cid:...">``."""
    image = (
        svg(chart(report), "Requests per hour")
        if mode == "file"
        else (
            f'<img src="cid:{cid}" width="720" height="240" alt="Requests per hour" '
            'style="max-width:100%;height:auto;">'
        )
    )
    return (
        templates("chatwatch.report")
        .get_template("report.html.j2")
        .render(_context(report, settings, image))
    )


def render_text(report: Report, settings: Settings) -> str:
    return (
        templates("chatwatch.report")
        .get_template("report.txt.j2")
        .render(_context(report, settings, ""))
    )


def email_message(report: Report, settings: Settings) -> EmailMessage:
    """Plain text and HTML alternatives; the HTML part carries the chart PNG inline."""
    message = new_message(settings, subject(report))
    message.set_content(render_text(report, settings))
    cid = make_msgid(domain="chatwatch")
    message.add_alternative(render_html(report, settings, "email", cid[1:-1]), subtype="html")
    html = message.get_body(("html",))
    assert isinstance(html, EmailMessage)
    html.add_related(
        png(chart(report)),
        maintype="image",
        subtype="png",
        cid=cid,
        filename="requests-per-hour.png",
    )
    return message
