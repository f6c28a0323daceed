"""Guide 000's daily report (``0 9 * * *``): ``generate_chat_report --email``, with every
option of ``chatwatch report``; ``--email`` uses Django's ``EMAIL_*`` settings when
chatwatch has no SMTP server of its own."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from chatwatch.integrations.django.bridge import add_cli_arguments, run_or_raise


class Command(BaseCommand):
    help = "Generate the daily chat report, as a file or by e-mail"

    def add_arguments(self, parser: CommandParser) -> None:
        add_cli_arguments(parser, "report")

    def handle(self, *args: Any, **options: Any) -> None:
        run_or_raise("report", options)
