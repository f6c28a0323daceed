"""``chatwatch export`` (guide 000's ``export_chat_analytics``), and raw exports."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Annotated

import typer

from chatwatch.cli._app import (
    DbOption,
    app,
    console,
    err_console,
    open_output,
    open_store,
    settings_for,
)
from chatwatch.export import (
    COLUMNS,
    FORMATS,
    RowFilter,
    date_range,
    encode,
    export_records,
    parquet_available,
)
from chatwatch.metrics import Catalogue

__all__ = ["export"]


def _check(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        err_console.print(f"{name} must be one of {', '.join(allowed)} (got {value!r})")
        raise typer.Exit(2)


@app.command()
def export(
    start_date: Annotated[datetime, typer.Option("--start-date", formats=["%Y-%m-%d"])],
    end_date: Annotated[datetime, typer.Option("--end-date", formats=["%Y-%m-%d"])],
    type: Annotated[
        str,
        typer.Option(
            "--type",
            help="sessions, turns, llm_calls, rag_searches, feedback, escalations, alerts, "
            "daily or hourly",
        ),
    ] = "daily",
    format: Annotated[str, typer.Option("--format", help="csv, jsonl, json or parquet")] = "csv",
    granularity: Annotated[
        str | None, typer.Option(help="day or hour (the same as --type daily/hourly)")
    ] = None,
    service: Annotated[str | None, typer.Option(help="Only this service")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model")] = None,
    user_id: Annotated[str | None, typer.Option("--user-id", help="Only this user")] = None,
    user_type: Annotated[
        str | None, typer.Option("--user-type", help="Only this user type")
    ] = None,
    success: Annotated[
        bool | None,
        typer.Option("--success/--failed", help="Only successful (failed) turns or calls"),
    ] = None,
    topic: Annotated[str | None, typer.Option(help="Only turns of this topic")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default: stdout)")
    ] = None,
    db: DbOption = None,
) -> None:
    """Export rows for a date range (whole UTC days, both included): per-day or per-hour
    figures, or raw sessions, turns, calls, feedback, escalations, alert transitions."""
    if granularity is not None:
        _check("--granularity", granularity, ("day", "hour"))
        if type == "daily" and granularity == "hour":
            type = "hourly"
    _check("--type", type, tuple(COLUMNS))
    _check("--format", format, FORMATS)
    if format == "parquet" and not parquet_available():
        err_console.print(
            "--format parquet needs the extra: pip install 'chatwatch[parquet]'", markup=False
        )
        raise typer.Exit(2)
    if format == "parquet" and output is None:
        err_console.print("--format parquet needs --output FILE")
        raise typer.Exit(2)
    try:
        start, end = date_range(start_date.date(), end_date.date())
    except ValueError as exc:
        err_console.print(f"--end-date: {exc}")
        raise typer.Exit(2) from None
    settings = settings_for(db)
    store = open_store(settings.database_url)
    f = RowFilter(start, end, service, model, user_id, user_type, success, topic)
    sink: IO[bytes] | None = None
    try:
        sink = sys.stdout.buffer if output is None else open_output(output, "wb")
        rows = export_records(Catalogue(store, settings), type, f)
        _write(encode(rows, type, format), sink, output)
    except ValueError as exc:
        err_console.print(f"--end-date: {exc}")
        raise typer.Exit(2) from None
    finally:
        store.close()
        if output is not None and sink is not None:
            sink.close()


def _write(chunks: Iterable[bytes], sink: IO[bytes], output: Path | None) -> None:
    written = 0
    try:
        for chunk in chunks:
            sink.write(chunk)
            written += len(chunk)
    finally:
        if output is None:
            sink.flush()
        else:
            sink.close()
    if output is not None:
        console.print(f"wrote {written:,} bytes to {output}")
