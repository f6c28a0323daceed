"""Guide 000's daily report (``0 9 * * *``): ``generate_chat_report --email``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatwatch.integrations.django.bridge import run_cli


class Command(BaseCommand):
    help = "Generate the daily chat report, as a file or by e-mail"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", action="store_true", help="Send it to the alert recipients")
        parser.add_argument("--date", help="The day to report (YYYY-MM-DD, default yesterday)")
        parser.add_argument("--output", help="Write the HTML report to this file")

    def handle(self, *args: Any, **options: Any) -> None:
        cli = ["report"]
        if options["email"]:
            cli.append("--email")
        if options["date"]:
            cli += ["--date", options["date"]]
        if options["output"]:
            cli += ["--output", options["output"]]
        code = run_cli(cli)
        if code:
            raise CommandError(f"chatwatch report exited with {code}")
