"""Guide 000's cron check: exits 0 / 1 / 2 for ok / warning / critical (3: unknown).

Takes every option of ``chatwatch check`` (``--rules``, ``--quiet``, ``--store``...)."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from chatwatch.integrations.django.bridge import add_cli_arguments, cli_args, run_cli


class Command(BaseCommand):
    help = "Check chat system health and send alerts if needed"

    def add_arguments(self, parser: CommandParser) -> None:
        add_cli_arguments(parser, "check")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options.get("quiet"):
            self.stdout.write("Checking chat system health...")
        code = run_cli(cli_args("check", options))
        if code:
            sys.exit(code)
        if not options.get("quiet"):
            self.stdout.write(self.style.SUCCESS("Health check complete"))
