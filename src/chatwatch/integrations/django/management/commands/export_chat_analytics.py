"""Guide 000's ``export_chat_analytics --start-date … --end-date … --format csv``, with
every option of ``chatwatch export`` (``--service``, ``--granularity``, ``--type``...)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatwatch.integrations.django.bridge import add_cli_arguments, cli_args, run_cli


class Command(BaseCommand):
    help = "Export chat analytics for a date range"

    def add_arguments(self, parser: CommandParser) -> None:
        add_cli_arguments(parser, "export")

    def handle(self, *args: Any, **options: Any) -> None:
        code = run_cli(cli_args("export", options))
        if code:
            raise CommandError(f"chatwatch export exited with {code}", returncode=code)
