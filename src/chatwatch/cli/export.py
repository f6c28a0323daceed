"""``chatwatch export`` (guide 000's ``export_chat_analytics``)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from chatwatch.cli._app import DbOption, app, console, err_console, open_store, settings_for
from chatwatch.export import export_rows, to_csv
from chatwatch.metrics import Catalogue
from chatwatch.store import Filters

__all__ = ["export"]


@app.command()
def export(
    start_date: Annotated[datetime, typer.Option("--start-date", formats=["%Y-%m-%d"])],
    end_date: Annotated[datetime, typer.Option("--end-date", formats=["%Y-%m-%d"])],
    format: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
    granularity: Annotated[str, typer.Option(help="day or hour")] = "day",
    service: Annotated[str | None, typer.Option(help="Only this service")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default: stdout)")
    ] = None,
    db: DbOption = None,
) -> None:
    """Export per-day (or per-hour) analytics for a date range, both dates included."""
    if format not in ("csv", "json"):
        err_console.print(f"--format must be csv or json (got {format!r})")
        raise typer.Exit(2)
    if granularity not in ("day", "hour"):
        err_console.print(f"--granularity must be day or hour (got {granularity!r})")
        raise typer.Exit(2)
    settings = settings_for(db)
    store = open_store(settings.database_url)
    try:
        rows = export_rows(
            Catalogue(store, settings),
            start_date.date(),
            end_date.date(),
            Filters(service=service),
            granularity,  # type: ignore[arg-type]
        )
    except ValueError as exc:
        err_console.print(f"--end-date: {exc}")
        raise typer.Exit(2) from None
    finally:
        store.close()
    text = to_csv(rows) if format == "csv" else json.dumps({"rows": rows}, indent=2)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        console.print(f"wrote {len(rows)} rows to {output}")
