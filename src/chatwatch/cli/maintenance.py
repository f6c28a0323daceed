"""``chatwatch maintenance``: one round of compaction and retention, now (the server also
runs it every ``CHATWATCH_MAINTENANCE_INTERVAL_S``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from chatwatch.cli._app import DbOption, app, console, err_console, open_store, settings_for
from chatwatch.store import Store
from chatwatch.store.maintenance import (
    KINDS,
    MaintenanceResult,
    Plan,
    count_expired,
    plan_from_settings,
    run_maintenance,
)

__all__ = ["maintenance"]

_LABELS = {
    "minute_rollups": "per-minute rollups",
    "minute_histograms": "per-minute histogram bins",
    "events": "raw events",
    "sessions": "sessions",
    "user_usage": "per-user usage hours",
}


@app.command()
def maintenance(
    db: DbOption = None,
    event_retention_days: Annotated[
        int | None,
        typer.Option(min=1, help="Keep raw events this many days (default: settings, 30)"),
    ] = None,
    minute_retention_days: Annotated[
        int | None,
        typer.Option(min=1, help="Keep per-minute rollups this many days (default: 7)"),
    ] = None,
    batch_rows: Annotated[
        int | None, typer.Option(min=1, help="Rows deleted per transaction")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Only count what would be deleted")] = False,
) -> None:
    """Compact old per-minute rollups into hours and expire old raw events, once."""
    settings = settings_for(db)
    updates = {
        "event_retention_days": event_retention_days,
        "minute_retention_days": minute_retention_days,
        "maintenance_batch_rows": batch_rows,
    }
    settings = settings.model_copy(update={k: v for k, v in updates.items() if v is not None})
    store = open_store(
        settings.database_url, minute_retention_s=settings.minute_retention_days * 86400
    )
    try:
        plan = plan_from_settings(store, settings)
        expired = count_expired(store, plan)
        if dry_run:
            console.print(_table("would delete", expired))
            return
        result = _run(store, plan, expired)
    finally:
        store.close()
    if result.skipped:
        err_console.print("another process is running maintenance; nothing more done this time")
    console.print(_table("deleted", result))


def _run(store: Store, plan: Plan, expired: MaintenanceResult) -> MaintenanceResult:
    columns = (
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        tasks = {
            kind: progress.add_task(_LABELS[kind], total=max(getattr(expired, kind), 1))
            for kind in KINDS
        }

        def advance(kind: str, deleted: int) -> None:
            progress.advance(tasks[kind], deleted)

        result = run_maintenance(store, plan, progress=advance)
        if not result.skipped:  # rows that expired while counting make totals move
            for kind in KINDS:
                progress.update(tasks[kind], completed=progress.tasks[tasks[kind]].total)
    return result


def _table(title: str, result: MaintenanceResult) -> Table:
    table = Table(title=f"chatwatch maintenance: {title}")
    table.add_column("rows")
    table.add_column("count", justify="right")
    for kind in KINDS:
        table.add_row(_LABELS[kind], f"{getattr(result, kind):,}")
    return table
