"""Guide 000's cron check: exits 0 / 1 / 2 for ok / warning / critical."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand

from chatwatch.integrations.django.bridge import run_cli


class Command(BaseCommand):
    help = "Check chat system health and send alerts if needed"

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write("Checking chat system health...")
        code = run_cli(["check"])
        if code:
            sys.exit(code)
        self.stdout.write(self.style.SUCCESS("Health check complete"))
