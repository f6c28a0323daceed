"""Guide 000's Django commands map onto `chatwatch check` and `chatwatch report`."""

from __future__ import annotations

import io
import time
from pathlib import Path

import django
import pytest
from alert_helpers import turns
from django.conf import settings as django_settings

from chatwatch.store import Store


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
            LOGIN_URL="/admin/login/",  # the same settings as tests/integrations (once per process)
            ALLOWED_HOSTS=["testserver"],
            CHATWATCH={},
        )
        django.setup()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CHATWATCH_RULES_FILE", raising=False)
    url = f"sqlite:///{tmp_path / 'cw.db'}"
    monkeypatch.setattr(django_settings, "CHATWATCH", {"DATABASE_URL": url})
    Store(url).close()  # as `chatwatch migrate` would: the check never creates it
    return url


def test_check_chat_health_exit_codes(db: str) -> None:
    """`manage.py check_chat_health` completes when healthy and exits 2 when critical."""
    from django.core.management import call_command

    out = io.StringIO()
    call_command("check_chat_health", stdout=out)
    assert "Health check complete" in out.getvalue()
    store = Store(db)
    turns(store, time.time() - 30, 40, failed=8)
    store.close()
    with pytest.raises(SystemExit) as exited:
        call_command("check_chat_health", stdout=io.StringIO())
    assert exited.value.code == 2


def test_generate_chat_report_writes_file(db: str, tmp_path: Path) -> None:
    """`manage.py generate_chat_report --date D --output FILE` writes the HTML report."""
    from django.core.management import call_command

    out = tmp_path / "report.html"
    call_command("generate_chat_report", "--date", "2026-01-01", "--output", str(out))
    assert "Daily chat report" in out.read_text()
