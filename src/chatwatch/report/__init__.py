"""The daily report (guide 000's ``generate_chat_report --email``): the day's KPIs against
guide 003's targets, with a chart, as an HTML file or an e-mail."""

from __future__ import annotations

from chatwatch.report.data import Kpi, ModelRow, Report, Target, build_report
from chatwatch.report.render import email_message, render_html, render_text, subject

__all__ = [
    "Kpi",
    "ModelRow",
    "Report",
    "Target",
    "build_report",
    "email_message",
    "render_html",
    "render_text",
    "subject",
]
