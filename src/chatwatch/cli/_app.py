"""The typer application every command module registers on."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from chatwatch.config import Settings

__all__ = ["DbOption", "app", "console", "err_console", "settings_for"]

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
