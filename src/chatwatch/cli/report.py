"""``chatwatch report``: guide 000's daily report (``0 9 * * *`` ... ``--email``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from chatwatch.alerts import RulesError, load_rules
from chatwatch.alerts.notify.email import EmailError, send_message
from chatwatch.cli._app import (
    DbOption,
    app,
    console,
    err_console,
    open_output,
    open_store,
    settings_for,
)
from chatwatch.metrics import Catalogue
from chatwatch.report import build_report, email_message, render_html, subject

__all__ = ["report"]


@app.command()
def report(
    day: Annotated[
        datetime | None,
        typer.Option("--date", formats=["%Y-%m-%d"], help="The UTC day (default: yesterday)"),
    ] = None,
    email: Annotated[
        bool, typer.Option("--email", help="Send it to CHATWATCH_ALERT_EMAILS")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "--output", "-o", help="HTML file (default without --email: report-DATE.html)"
        ),
    ] = None,
    service: Annotated[str | None, typer.Option(help="Only this service")] = None,
    db: DbOption = None,
) -> None:
    """The day's KPIs against their targets (error rate < 5 %, success rate > 95 %, ...),
    with a chart, as HTML or by e-mail."""
    settings = settings_for(db)
    the_day: date = day.date() if day else (datetime.now(UTC) - timedelta(days=1)).date()
    try:
        rules = load_rules(settings.rules_file)
    except RulesError:
        rules = []  # the report does not need the rules; only the units of alert values
    store = open_store(settings.database_url)
    try:
        with console.status(f"reading {the_day.isoformat()}"):
            built = build_report(Catalogue(store, settings), the_day, service, rules)
    finally:
        store.close()
    if out is None and not email:
        out = Path(f"chatwatch-report-{the_day.isoformat()}.html")
    if out is not None:
        html = render_html(built, settings, "file")
        with open_output(out, "w", encoding="utf-8") as sink:
            sink.write(html)
        console.print(f"wrote {out}", highlight=False)
    if email:
        try:
            send_message(settings, email_message(built, settings))
        except EmailError as exc:
            err_console.print(f"[red]e-mail failed[/]: {exc}", highlight=False)
            raise typer.Exit(1) from None
        console.print(f"sent to {', '.join(settings.alert_emails)}", highlight=False)
    console.print(subject(built), highlight=False, markup=False)
