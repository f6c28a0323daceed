"""`chatwatch check` (exit codes, one mail then none), silences and prometheus-rules CLIs."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alert_helpers import Mailbox, running_smtp, turns
from typer.testing import CliRunner

from chatwatch.cli import app
from chatwatch.store import Store


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    with running_smtp() as box:
        yield box


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("CHATWATCH_RULES_FILE", "CHATWATCH_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'cw.db'}"
    assert CliRunner().invoke(app, ["migrate", "--db", url]).exit_code == 0
    return url


def _fill(db: str, n: int, failed: int) -> None:
    store = Store(db)
    try:
        turns(store, time.time() - 30, n, failed=failed)
    finally:
        store.close()


def test_check_critical_sends_one_mail_then_none(
    db: str, smtp_server: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guide 000's cron job: past the error-rate critical threshold it exits 2 and sends
    one mail; run again at once, it exits 2 and sends none."""
    monkeypatch.setenv("CHATWATCH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CHATWATCH_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("CHATWATCH_SMTP_SECURITY", "none")
    monkeypatch.setenv("CHATWATCH_ALERT_EMAILS", "ops@example.com, dev@example.com")
    _fill(db, 40, failed=6)  # 15 % of 40 turns
    runner = CliRunner()
    first = runner.invoke(app, ["check", "--db", db])
    assert first.exit_code == 2, first.output
    assert first.output.startswith("CRITICAL: 1 firing: high_error_rate[service=api] 15.0%")
    assert len(smtp_server.messages) == 1
    assert smtp_server.subjects()[0].startswith("[CRITICAL] Error rate 15.0%")
    assert smtp_server.messages[0]["To"] == "ops@example.com, dev@example.com"
    second = runner.invoke(app, ["check", "--db", db])
    assert second.exit_code == 2, second.output
    assert len(smtp_server.messages) == 1


def test_check_exit_codes_ok_and_warning(db: str) -> None:
    """Nothing wrong exits 0; an error rate between 5 and 10 % exits 1."""
    runner = CliRunner()
    empty = runner.invoke(app, ["check", "--db", db])
    assert empty.exit_code == 0, empty.output
    assert empty.output.startswith("OK: 0 firing; 0 pending")
    _fill(db, 45, failed=3)  # 6.7 %; under the cache rule's 50 samples
    warned = runner.invoke(app, ["check", "--db", db])
    assert warned.exit_code == 1, warned.output
    assert warned.output.startswith("WARNING: 1 firing: high_error_rate[service=api] 6.7%;")


def test_check_bad_rules_is_unknown(db: str, tmp_path: Path) -> None:
    """A rules file that cannot be used exits 3 (Nagios UNKNOWN) naming the field."""
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - name: x\n    metric: nope\n")
    result = CliRunner().invoke(app, ["check", "--db", db, "--rules", str(bad)])
    assert result.exit_code == 3
    assert "metric" in result.output


def test_silences_cli(db: str) -> None:
    """Create, list and expire a silence from the command line."""
    runner = CliRunner()
    made = runner.invoke(
        app,
        [
            "silences",
            "create",
            "-m",
            "alertname=high_error_rate",
            "-m",
            "service=~api|web",
            "--duration",
            "2h",
            "--comment",
            "deploy",
            "--by",
            "ana",
            "--db",
            db,
        ],
    )
    assert made.exit_code == 0, made.output
    silence_id = made.output.split()[1]
    listed = runner.invoke(app, ["silences", "list", "--db", db])
    assert silence_id[:8] in listed.output and "active" in listed.output
    assert runner.invoke(app, ["silences", "expire", silence_id, "--db", db]).exit_code == 0
    assert runner.invoke(app, ["silences", "expire", silence_id, "--db", db]).exit_code == 1
    bad = runner.invoke(app, ["silences", "create", "-m", "no-operator", "--duration", "1h"])
    assert bad.exit_code == 2 and "name=value" in bad.output


def test_prometheus_rules_file(tmp_path: Path) -> None:
    """The exported file has a rule per rule and level; promtool accepts it when installed."""
    out = tmp_path / "chatwatch.rules.yml"
    result = CliRunner().invoke(app, ["prometheus-rules", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "alert: high_error_rate" in text
    assert "increase(chat_errors_total[15m])" in text
    assert "severity: critical" in text
    promtool = shutil.which("promtool") or (
        "/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None
    )
    if promtool is None:
        pytest.skip("promtool is not installed")
    checked = subprocess.run(
        [promtool, "check", "rules", str(out)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 19 rules found" in checked.stdout


def test_test_email(db: str, smtp_server: Mailbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """`chatwatch test-email` sends one message; with SMTP down it exits 1 saying why."""
    monkeypatch.setenv("CHATWATCH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CHATWATCH_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("CHATWATCH_SMTP_SECURITY", "none")
    runner = CliRunner()
    sent = runner.invoke(app, ["test-email", "--to", "me@example.com"])
    assert sent.exit_code == 0, sent.output
    assert smtp_server.subjects() == ["[TEST] chatwatch alert e-mail"]
    assert smtp_server.messages[0]["To"] == "me@example.com"
    monkeypatch.setenv("CHATWATCH_SMTP_PORT", "1")
    failed = runner.invoke(app, ["test-email", "--to", "me@example.com"])
    assert failed.exit_code == 1 and "SMTP 127.0.0.1:1" in failed.output
