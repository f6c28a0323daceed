"""`chatwatch check` cannot lie: no database made, UNKNOWN when there is none to read,
full lines without a terminal, and a dry run for rules that are not the server's."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from alert_helpers import turns
from typer.testing import CliRunner

from chatwatch.alerts import current_alerts, recent_transitions
from chatwatch.cli import app
from chatwatch.store import Store


@pytest.fixture(autouse=True)
def _clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("CHATWATCH_RULES_FILE", "CHATWATCH_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_check_on_a_missing_file_is_unknown_and_creates_nothing(tmp_path: Path) -> None:
    """`check --db missing.db` exits 3 and leaves no file behind (nor does `silences list`
    or `export`)."""
    missing = tmp_path / "missing.db"
    runner = CliRunner()
    result = runner.invoke(app, ["check", "--db", str(missing)])
    assert result.exit_code == 3, result.output
    assert "UNKNOWN: no database at" in result.output
    for args in (["silences", "list"], ["keys", "create", "--scope", "read"]):
        assert runner.invoke(app, [*args, "--db", str(missing)]).exit_code == 3
    assert not list(tmp_path.iterdir())


def test_check_on_an_empty_or_unreadable_database_is_unknown(tmp_path: Path) -> None:
    """A file with no chatwatch schema, or one that is not a database at all: exit 3."""
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).execute("CREATE TABLE other (x)").connection.close()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database " * 200)
    for path, words in ((empty, "no chatwatch schema"), (junk, "cannot read")):
        result = CliRunner().invoke(app, ["check", "--db", f"sqlite:///{path}"])
        assert result.exit_code == 3 and words in result.output, result.output
    conn = sqlite3.connect(empty)
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["other"]
    conn.close()


def test_without_a_terminal_lines_are_full_width(tmp_path: Path) -> None:
    """A long service name is printed whole on the rule's line (no 80-column table)."""
    db = f"sqlite:///{tmp_path / 'cw.db'}"
    store = Store(db)
    service = "a-very-long-service-name-that-would-never-fit-in-an-80-column"
    turns(store, time.time() - 30, 40, failed=6, service=service)
    store.close()
    result = CliRunner().invoke(app, ["check", "--db", db])
    assert result.exit_code == 2, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("high_error_rate "))
    assert f"service={service} firing value=15.0%" in line
    assert "│" not in result.output and "┃" not in result.output


def test_check_with_other_rules_runs_dry_unless_store(tmp_path: Path) -> None:
    """`check --rules tight.yaml` prints and exits as usual but stores no state and sends
    nothing; with `--store` the states are kept."""
    db = f"sqlite:///{tmp_path / 'cw.db'}"
    store = Store(db)
    turns(store, time.time() - 30, 40, failed=1)  # 2.5 %: fine for the shipped rules
    tight = tmp_path / "tight.yaml"
    tight.write_text(
        "rules:\n  - {name: tight_errors, metric: error_rate, warning: 1, window: 5m}\n"
    )
    runner = CliRunner()
    dry = runner.invoke(app, ["check", "--db", db, "--rules", str(tight)])
    assert dry.exit_code == 1, dry.output
    assert dry.output.startswith("(dry run")
    assert "tight_errors service=api firing" in dry.output
    assert current_alerts(store) == [] and recent_transitions(store) == []
    kept = runner.invoke(app, ["check", "--db", db, "--rules", str(tight), "--store"])
    assert kept.exit_code == 1 and "dry run" not in kept.output
    assert [a.rule for a in current_alerts(store)] == ["tight_errors"]
    same = runner.invoke(app, ["check", "--db", db])  # the server's rules: not dry
    assert same.exit_code == 0 and "dry run" not in same.output
    store.close()
