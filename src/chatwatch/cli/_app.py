"""The typer application every command module registers on."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console

from chatwatch.config import Settings
from chatwatch.store import Store, StoreUnavailable

UNKNOWN = 3  # Nagios: the check itself could not run

__all__ = [
    "UNKNOWN",
    "DbOption",
    "app",
    "console",
    "err_console",
    "open_output",
    "open_store",
    "settings_for",
]

app = typer.Typer(
    name="chatwatch",
    help="Monitoring, analytics and alerting for AI chat assistants.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: CHATWATCH_DATABASE_URL or ./chatwatch.db)"),
]


def settings_for(db: str | None) -> Settings:
    settings = Settings()
    if db:
        settings = settings.model_copy(update={"database_url": db})
    return settings


def open_store(url: str, **options: Any) -> Store:
    """The existing database at ``url``; commands other than migrate, serve and demo never
    create one. Missing, empty or unreadable: ``UNKNOWN: ...`` and exit 3."""
    try:
        return Store(url, create=False, **options)
    except StoreUnavailable as exc:
        err_console.print(f"UNKNOWN: {exc}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(UNKNOWN) from None


def open_output(path: Path, mode: str, encoding: str | None = None) -> IO[Any]:
    """``path`` opened for writing; one that cannot be: ``--output: cannot write …``, exit 2."""
    try:
        return path.open(mode, encoding=encoding)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        err_console.print(f"--output: cannot write {path}: {reason}", highlight=False, markup=False)
        raise typer.Exit(2) from None
