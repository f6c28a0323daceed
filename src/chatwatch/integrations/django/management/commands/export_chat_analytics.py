"""Guide 000's ``export_chat_analytics --start-date … --end-date … --format csv``, with
every option of ``chatwatch export`` (``--service``, ``--granularity``, ``--type``...)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from chatwatch.integrations.django.bridge import add_cli_arguments, run_or_raise


class Command(BaseCommand):
    help = "Export chat analytics for a date range"

    def add_arguments(self, parser: CommandParser) -> None:
        add_cli_arguments(parser, "export")

    def handle(self, *args: Any, **options: Any) -> None:
        run_or_raise("export", options)
