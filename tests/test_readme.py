"""The README and docs a stranger can follow: no numbered guide the reader does not have,
no file that is not in the repository, every ``CHATWATCH_*`` setting the code reads in
the README's one settings table, the commands ``--help`` really lists, check's exit 3.
(The route table against the app's routes: tests/server/test_auth_matrix.py.)"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import httpx
import pytest
import typer.main
from typer.testing import CliRunner

from chatwatch.cli import app as cli
from chatwatch.config import Settings
from chatwatch.integrations.grafana import dashboard
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from live_server import LiveServer

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PACKAGE = ROOT / "src" / "chatwatch"
# what users read besides README and docs: the runbook the server serves, the shipped
# rules file, the daily report's template
SHIPPED = [
    PACKAGE / "alerts" / "runbook.md",
    PACKAGE / "alerts" / "default_rules.yaml",
    PACKAGE / "report" / "templates" / "report.html.j2",
]
NUMBERED_GUIDE = re.compile(r"\bguides?[\s-]+0\d\d\b", re.I)


def test_no_numbered_guide_in_what_users_read(tmp_path: Path) -> None:
    """ "guide 000"/"guide 003" mean nothing to a reader: the README names the two source
    guides once (the Django guide, the FastAPI guide), and nothing says their numbers,
    nor does the Grafana dashboard or the OpenAPI document."""
    found = [
        f"{path.relative_to(ROOT)}: {m.group(0)!r}"
        for path in [README, *DOCS, *SHIPPED]
        for m in NUMBERED_GUIDE.finditer(path.read_text())
    ]
    assert found == []
    assert not NUMBERED_GUIDE.search(json.dumps(dashboard()))
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'cw.db'}", alerts_enabled=False, _env_file=None
    )  # type: ignore[call-arg]
    app = create_app(settings)
    try:
        assert not NUMBERED_GUIDE.search(json.dumps(app.openapi()))
    finally:
        app.state.chatwatch.store.close()
    intro = README.read_text().split("\n## ")[0]
    assert "the Django guide" in intro and "the FastAPI guide" in intro


def test_no_reference_to_a_file_not_in_the_repository() -> None:
    """Every relative link resolves, every repository path named exists, and nothing
    points at the design notes that live outside the repository."""
    missing = []
    for path in [README, *DOCS]:
        text = path.read_text()
        assert "DESIGN.md" not in text and "STYLE.md" not in text, path.name
        for link in re.findall(r"\]\(([^)#\s]+)", text):
            external = link.startswith(("http://", "https://", "mailto:"))
            if not external and not (path.parent / link).exists():
                missing.append(f"{path.name}: ({link})")
        for named in re.findall(r"\b((?:src|tests|bench|docs)/[\w./-]*\w)", text):
            if not (ROOT / named).exists():
                missing.append(f"{path.name}: {named}")
    assert missing == []


def _settings_table() -> set[str]:
    """The names in the README's settings table; ``CHATWATCH_SMTP_HOST``, ``_PORT``
    stands for CHATWATCH_SMTP_HOST and CHATWATCH_SMTP_PORT."""
    text = README.read_text()
    table = text[text.index("| setting | default | what |") :]
    table = table[: table.index("\n\n")]
    names: set[str] = set()
    for line in table.splitlines()[2:]:
        first = line.strip("|").split("|")[0]
        full = re.findall(r"`(CHATWATCH_\w+)`", first)
        assert full, line
        prefix = full[0].rsplit("_", 1)[0]
        names.update(full)
        names.update(prefix + short for short in re.findall(r"`(_[A-Z0-9_]+)`", first))
    return names


def test_every_setting_is_in_the_one_settings_table() -> None:
    """Every Settings field and every CHATWATCH_* name the code reads from the
    environment (prices, the SDK's URL and key) is a row of the README's table, and the
    table names nothing that does not exist."""
    fields = {"CHATWATCH_" + name.upper() for name in Settings.model_fields}
    read = set()
    for path in PACKAGE.rglob("*.py"):
        read |= set(re.findall(r"CHATWATCH_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_*])", path.read_text()))
    table = _settings_table()
    assert sorted((fields | read) - table) == []
    assert sorted(table - fields - read) == []


def test_the_readme_lists_what_help_lists() -> None:
    """The README's sentence on ``chatwatch --help`` names exactly its commands and the
    subcommands of each group; it says check exits 3 when it cannot know."""
    group = typer.main.get_command(cli)
    commands = group.commands  # type: ignore[attr-defined]
    text = README.read_text()
    sentence = text[text.index("`chatwatch --help` lists:") :]
    sentence = sentence[: sentence.index("Every command takes")]
    named = re.findall(r"`([a-z-]+)`(?: \(([^)]*)\))?", sentence)
    listed = {name: set(re.findall(r"`([a-z-]+)`", subs)) for name, subs in named}
    assert set(listed) == set(commands)
    for name, subs in listed.items():
        assert subs == set(getattr(commands[name], "commands", {})), name
    out = CliRunner().invoke(cli, ["--help"], env={"COLUMNS": "200"}).output
    assert all(name in out for name in commands)
    assert re.search(r"exit 0 ok, 1 warning, 2 critical, 3 unknown", text)


def test_every_extra_named_exists() -> None:
    """``pip install 'chatwatch[X]'`` in the README, docs or a message of the code names
    an extra that pyproject.toml defines (``[parquet]`` was named but missing)."""
    extras = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    )
    named = set()
    for path in [README, *DOCS, *PACKAGE.rglob("*.py")]:
        for group in re.findall(r"chatwatch\[([a-z,]+)\]", path.read_text()):
            named.update(group.split(","))
    assert named and named <= extras, named - extras


def test_the_readme_ingest_example_runs_as_written(tmp_path: Path) -> None:
    """The README's ``curl`` example, run by bash against a real server with an ingest
    key, is accepted whole (every event valid and dated now), and its run reads back."""
    if shutil.which("curl") is None:
        pytest.skip("needs curl")
    text = README.read_text()
    start = text.index("```bash\nNOW=$(date +%s)")
    script = text[start + len("```bash\n") : text.index("\n```", start)]
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'cw.db'}", alerts_enabled=False, _env_file=None
    )  # type: ignore[call-arg]
    app = create_app(settings)
    server = LiveServer(app).start()
    store = app.state.chatwatch.store
    try:
        script = script.replace("http://127.0.0.1:8000", server.url)
        env = {"PATH": os.environ["PATH"], "INGEST_KEY": create_key(store, "ingest")}
        done = subprocess.run(
            ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"accepted": 5, "duplicates": 0}
        headers = {"Authorization": f"Bearer {create_key(store, 'read')}"}
        run = httpx.get(f"{server.url}/api/v1/runs/r-1", headers=headers).json()
        assert run["turn"]["id"] == "e4" and run["session_id"] == "s-42"
        assert [c["id"] for c in run["llm_calls"]] == ["e3"]
        assert [s["id"] for s in run["rag_searches"]] == ["e2"]
    finally:
        server.stop()
        store.close()
