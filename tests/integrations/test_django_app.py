"""The Django app: guide 000's management commands and the staff-only analytics entry."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from types import SimpleNamespace

import django
import pytest
from django.conf import settings as django_settings

from chatwatch.events import parse_events
from chatwatch.store import Store
from live_server import free_port

DAY = datetime(2025, 1, 1, 12, tzinfo=UTC).timestamp()


@pytest.fixture(scope="module", autouse=True)
def django_setup() -> None:
    if not django_settings.configured:
        django_settings.configure(
            INSTALLED_APPS=[
                "django.contrib.auth",
                "django.contrib.contenttypes",
                "chatwatch.integrations.django",
            ],
            ROOT_URLCONF="chatwatch.integrations.django.urls",
            LOGIN_URL="/admin/login/",
            ALLOWED_HOSTS=["testserver"],
            CHATWATCH={},
        )
        django.setup()


def test_export_command_writes_guide_csv(tmp_path, monkeypatch) -> None:
    """`manage.py export_chat_analytics --start-date --end-date --format csv` exports the days."""
    from django.core.management import call_command

    url = f"sqlite:///{tmp_path / 'cw.db'}"
    store = Store(url)
    store.ingest(
        parse_events(
            [
                {"type": "turn", "id": f"t{i}", "ts": DAY + i, "response_time_ms": 200.0}
                for i in range(3)
            ]
        )
    )
    store.close()
    monkeypatch.setattr(django_settings, "CHATWATCH", {"DATABASE_URL": url})
    out = tmp_path / "export.csv"
    call_command(
        "export_chat_analytics",
        "--start-date",
        "2025-01-01",
        "--end-date",
        "2025-01-01",
        "--format",
        "csv",
        "--output",
        str(out),
    )
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["period"], r["total_requests"]) for r in rows] == [("2025-01-01", "3")]


def test_export_command_refuses_bad_dates(tmp_path, monkeypatch) -> None:
    """Reversed dates end the command with an error instead of an empty file."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    monkeypatch.setattr(
        django_settings, "CHATWATCH", {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    )
    with pytest.raises(CommandError):
        call_command(
            "export_chat_analytics", "--start-date", "2025-02-01", "--end-date", "2025-01-01"
        )


def test_analytics_view_is_for_staff_only(monkeypatch) -> None:
    """Staff go on to the dashboard; others get a 403, not a redirect to a login route the
    site does not have; with a login route, anonymous visitors go there."""
    from django.test import RequestFactory

    from chatwatch.integrations.django.views import analytics

    monkeypatch.setattr(
        django_settings, "CHATWATCH", {"DASHBOARD_URL": "http://cw:8000/analytics/"}
    )
    request = RequestFactory().get("/chat/analytics/")
    request.user = SimpleNamespace(is_active=True, is_staff=False, is_authenticated=False)
    assert analytics(request).status_code == 403  # /admin/login/ is not routed here
    monkeypatch.setattr(django_settings, "LOGIN_URL", "/chat/analytics/")  # a routed path
    denied = analytics(request)
    assert denied.status_code == 302 and denied["Location"].startswith("/chat/analytics/?next=")
    request.user = SimpleNamespace(is_active=True, is_staff=False, is_authenticated=True)
    assert analytics(request).status_code == 403
    request.user = SimpleNamespace(is_active=True, is_staff=True, is_authenticated=True)
    allowed = analytics(request)
    assert allowed.status_code == 302 and allowed["Location"] == "http://cw:8000/analytics/"


def test_bad_arguments_are_one_line_command_errors(tmp_path, monkeypatch) -> None:
    """A mistyped date, an unknown value or an unwritable --output ends in CommandError
    with the CLI's message."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    url = f"sqlite:///{tmp_path / 'x.db'}"
    Store(url).close()
    monkeypatch.setattr(django_settings, "CHATWATCH", {"DATABASE_URL": url})
    days = ["--start-date", "2025-01-01", "--end-date", "2025-01-02"]
    with pytest.raises(CommandError, match="2025-13-01"):
        call_command(
            "export_chat_analytics", "--start-date", "2025-13-01", "--end-date", "2025-01-01"
        )
    with pytest.raises(CommandError, match="does not match"):
        call_command("generate_chat_report", "--date", "yesterday")
    with pytest.raises(CommandError, match=r"^--type must be one of .* \(got 'bogus'\)$"):
        call_command("export_chat_analytics", *days, "--type", "bogus")
    missing = tmp_path / "no" / "such" / "dir"
    with pytest.raises(CommandError, match=f"^--output: cannot write {missing}"):
        call_command("export_chat_analytics", *days, "--output", str(missing / "x.csv"))
    with pytest.raises(CommandError, match=f"^--output: cannot write {missing}"):
        call_command("generate_chat_report", "--date", "2025-01-01", "--output", str(missing))


MANAGE = """
import sys, django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes",
                    "chatwatch.integrations.django"],
    CHATWATCH={"DATABASE_URL": sys.argv[1]},
)
django.setup()
from django.core.management import execute_from_command_line
execute_from_command_line(["manage.py", *sys.argv[2:]])
"""


@pytest.mark.slow
def test_manage_py_prints_one_line_and_no_traceback(tmp_path) -> None:
    """Through manage.py itself: each bad argument is one line on stderr and exit 2, with
    the installed typer and click."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'x.db'}"
    Store(url).close()
    days = ["--start-date", "2025-01-01", "--end-date", "2025-01-02"]
    for args in (
        ["export_chat_analytics", "--start-date", "2025-13-01", "--end-date", "2025-01-01"],
        ["export_chat_analytics", *days, "--granularity", "minute"],
        ["export_chat_analytics", *days, "--output", str(tmp_path / "no" / "x.csv")],
        ["generate_chat_report", "--date", "2025-02-30"],
    ):
        done = subprocess.run(
            [sys.executable, "-c", MANAGE, url, *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2, (args, done.stderr)
        assert len(lines) == 1 and lines[0].startswith("CommandError: "), (args, done.stderr)


def test_commands_take_every_option_of_their_cli_twin() -> None:
    """Each management command's options are its CLI command's (--service, --granularity,
    --quiet, --rules...), read from the CLI itself."""
    import typer.main
    from django.core.management import load_command_class

    from chatwatch.cli import app

    cli = typer.main.get_command(app).commands  # type: ignore[attr-defined]

    def options(name: str) -> set[str]:
        parser = load_command_class("chatwatch.integrations.django", name).create_parser(
            "manage.py", name
        )
        return {o for action in parser._actions for o in action.option_strings}

    def twin(name: str) -> set[str]:
        found: set[str] = set()
        for p in cli[name].params:
            if p.param_type_name == "option" and p.name != "help":
                found |= {o for o in (*p.opts, *p.secondary_opts) if o.startswith("--")}
        return found

    for command, name in (
        ("export_chat_analytics", "export"),
        ("check_chat_health", "check"),
        ("generate_chat_report", "report"),
    ):
        assert twin(name) <= options(command), (command, twin(name) - options(command))
    assert {"--service", "--granularity", "--type", "--format", "--output"} <= twin("export")
    assert {"--rules", "--quiet", "--store"} <= twin("check")
    assert {"--email", "--date", "--service", "--output"} <= twin("report")


def test_report_email_uses_djangos_email_settings(tmp_path, monkeypatch) -> None:
    """generate_chat_report --email with no CHATWATCH_SMTP_HOST sends through EMAIL_*."""
    from aiosmtpd.controller import Controller
    from django.core.management import call_command

    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            received.append(envelope.content)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        monkeypatch.delenv("CHATWATCH_SMTP_HOST", raising=False)
        monkeypatch.setenv("CHATWATCH_ALERT_EMAILS", "ops@example.com")
        url = f"sqlite:///{tmp_path / 'r.db'}"
        Store(url).close()  # the chatwatch database exists (migrated)
        monkeypatch.setattr(django_settings, "CHATWATCH", {"DATABASE_URL": url})
        for name, value in {
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": port,
            "EMAIL_USE_TLS": False,
            "EMAIL_USE_SSL": False,
            "EMAIL_HOST_USER": "",
            "EMAIL_HOST_PASSWORD": "",
            "DEFAULT_FROM_EMAIL": "bot@example.com",
        }.items():
            monkeypatch.setattr(django_settings, name, value, raising=False)
        call_command("generate_chat_report", "--email", "--date", "2025-01-01")
    finally:
        controller.stop()
    assert received and b"bot@example.com" in received[0]


def test_the_client_is_built_from_settings(tmp_path, monkeypatch) -> None:
    """CHATWATCH's URL, API_KEY and SERVICE make the client (over the environment's); with
    no URL anywhere, DATABASE_URL makes it write into that database."""
    from chatwatch.integrations.django import get_client, reset_client
    from chatwatch.sdk import HTTPTransport, StoreTransport

    monkeypatch.setenv("CHATWATCH_URL", "http://from-env:1")
    monkeypatch.setenv("CHATWATCH_API_KEY", "cw_ingest_env")
    conf = {"URL": "http://cw.internal:8000/", "API_KEY": "cw_ingest_abc", "SERVICE": "sophie"}
    monkeypatch.setattr(django_settings, "CHATWATCH", conf)
    reset_client()
    try:
        client = get_client()
        assert get_client() is client  # one per project
        assert client.service == "sophie"
        assert isinstance(client.transport, HTTPTransport)
        assert client.transport.endpoint == "http://cw.internal:8000/api/v1/events"
        assert client.transport._headers["Authorization"] == "Bearer cw_ingest_abc"
        reset_client()
        monkeypatch.delenv("CHATWATCH_URL")
        url = f"sqlite:///{tmp_path / 'direct.db'}"
        Store(url).close()
        monkeypatch.setattr(
            django_settings, "CHATWATCH", {"DATABASE_URL": url, "SERVICE": "sophie"}
        )
        client = get_client()
        assert isinstance(client.transport, StoreTransport)
        client.message("user", "s-1")
        assert client.flush(5)
    finally:
        reset_client()
    store = Store(url)
    try:
        assert [e.type for e in store.session_events("sophie", "s-1")] == ["message"]
    finally:
        store.close()
