"""Guide 000's ``export_chat_analytics --start-date … --end-date … --format csv``, with
the options of ``chatwatch export`` (raw types, formats, filters)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatwatch.integrations.django.bridge import run_cli

_TYPES = ["sessions", "turns", "llm_calls", "rag_searches", "feedback", "escalations"]
_TYPES += ["alerts", "daily", "hourly"]
_VALUED = ("granularity", "service", "model", "user_id", "user_type", "topic", "output")


class Command(BaseCommand):
    help = "Export chat analytics (figures per day or hour, or raw rows) for a date range"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--start-date", required=True)
        parser.add_argument("--end-date", required=True)
        parser.add_argument("--type", default="daily", choices=_TYPES)
        parser.add_argument("--format", default="csv", choices=["csv", "jsonl", "json", "parquet"])
        parser.add_argument("--granularity", choices=["day", "hour"])
        parser.add_argument("--service", help="Only this service")
        parser.add_argument("--model", help="Only this model")
        parser.add_argument("--user-id", help="Only this user")
        parser.add_argument("--user-type", help="Only this user type")
        parser.add_argument("--topic", help="Only turns of this topic")
        success = parser.add_mutually_exclusive_group()
        success.add_argument("--success", action="store_true", default=None)
        success.add_argument("--failed", dest="success", action="store_false")
        parser.add_argument("--output", help="File to write (default: stdout)")

    def handle(self, *args: Any, **options: Any) -> None:
        cli = ["export", "--start-date", options["start_date"], "--end-date", options["end_date"]]
        cli += ["--type", options["type"], "--format", options["format"]]
        for name in _VALUED:
            if options.get(name):
                cli += [f"--{name.replace('_', '-')}", str(options[name])]
        if options.get("success") is not None:
            cli.append("--success" if options["success"] else "--failed")
        code = run_cli(cli)
        if code:
            raise CommandError(f"chatwatch export exited with {code}")
