"""Run a ``chatwatch`` CLI command from Django, with the database from Django settings."""

from __future__ import annotations

from typing import Any

import click
import typer.main

__all__ = ["chatwatch_settings", "run_cli"]


def chatwatch_settings() -> dict[str, Any]:
    from django.conf import settings

    return dict(getattr(settings, "CHATWATCH", {}))


def run_cli(args: list[str]) -> int:
    """The command's exit code (0 on success), so cron and Nagios see what the CLI says."""
    from chatwatch.cli import app

    db = chatwatch_settings().get("DATABASE_URL")
    full = [*args, "--db", str(db)] if db else list(args)
    command = typer.main.get_command(app)
    try:
        result = command.main(args=full, prog_name="chatwatch", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    return result if isinstance(result, int) else 0
