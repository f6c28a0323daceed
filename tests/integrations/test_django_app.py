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
    """/chat/analytics/ sends non-staff to the admin login and staff on to the dashboard."""
    from django.test import RequestFactory

    from chatwatch.integrations.django.views import analytics

    monkeypatch.setattr(
        django_settings, "CHATWATCH", {"DASHBOARD_URL": "http://cw:8000/analytics/"}
    )
    request = RequestFactory().get("/chat/analytics/")
    request.user = SimpleNamespace(is_active=True, is_staff=False)
    denied = analytics(request)
    assert denied.status_code == 302 and "/admin/login/" in denied["Location"]
    request.user = SimpleNamespace(is_active=True, is_staff=True)
    allowed = analytics(request)
    assert allowed.status_code == 302 and allowed["Location"] == "http://cw:8000/analytics/"
