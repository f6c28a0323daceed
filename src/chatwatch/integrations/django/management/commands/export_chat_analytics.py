"""Guide 000's ``export_chat_analytics --start-date … --end-date … --format csv``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatwatch.integrations.django.bridge import run_cli


class Command(BaseCommand):
    help = "Export chat analytics for a date range"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--start-date", required=True)
        parser.add_argument("--end-date", required=True)
        parser.add_argument("--format", default="csv", choices=["csv", "json"])
        parser.add_argument("--output", help="File to write (default: stdout)")

    def handle(self, *args: Any, **options: Any) -> None:
        cli = ["export", "--start-date", options["start_date"], "--end-date", options["end_date"]]
        cli += ["--format", options["format"]]
        if options["output"]:
            cli += ["--output", options["output"]]
        code = run_cli(cli)
        if code:
            raise CommandError(f"chatwatch export exited with {code}")
