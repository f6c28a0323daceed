"""The README's ``LOGGING`` applied by Django's own logging setup, with the installed
python-json-logger and with the lowest version pyproject.toml allows (2.0.7, whose
formatter lives in ``pythonjsonlogger.jsonlogger``)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# the floor pyproject.toml allows (2.0.7: its formatter lives in pythonjsonlogger.jsonlogger)
_PYPROJECT = (Path(__file__).parents[2] / "pyproject.toml").read_text()
_FLOOR = re.search(r'"python-json-logger>=([0-9][0-9.]*)', _PYPROJECT)
assert _FLOOR is not None, "pyproject.toml names no python-json-logger floor"
LOWEST = _FLOOR.group(1)
SCRIPT = """
import importlib.metadata, logging, sys
import django
from django.conf import settings
from chatwatch.integrations.logging import logging_config

# the README's line
settings.configure(LOGGING=logging_config(sys.argv[1], loggers=["chat.consumers"]))
django.setup()
logging.getLogger("chat.consumers").info("consumer message", extra={"session_id": "s1"})
logging.getLogger("services.chat.consumers").info("guide consumer message")
logging.getLogger("services.chat").error("AI processing error")
logging.getLogger("chatwatch.sdk").warning("dropped 3 events")
print(importlib.metadata.version("python-json-logger"))
"""


@pytest.fixture(scope="module")
def lowest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("pjl")
    # the Makefile's virtualenv has no pip of its own: the base interpreter's installs
    python = sys.executable if importlib.util.find_spec("pip") else sys._base_executable
    pip = [python, "-m", "pip", "install", "--quiet", "--no-deps", "--target"]
    done = subprocess.run(
        [*pip, str(target), f"python-json-logger=={LOWEST}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        pytest.skip(f"could not install python-json-logger {LOWEST}: {done.stderr[-500:]}")
    return target


def _apply(log_dir: Path, extra_path: Path | None) -> str:
    env = dict(os.environ)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(extra_path), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(log_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _check(log_dir: Path) -> None:
    records = [json.loads(line) for line in (log_dir / "chat_json.log").read_text().splitlines()]
    by_name = {r["name"]: r for r in records}
    assert set(by_name) == {
        "chat.consumers",
        "services.chat.consumers",
        "services.chat",
        "chatwatch.sdk",
    }
    assert by_name["chat.consumers"]["session_id"] == "s1"
    errors = (log_dir / "chat_errors.log").read_text()
    assert "AI processing error" in errors and "consumer message" not in errors
    assert "guide consumer message" in (log_dir / "chat.log").read_text()


@pytest.mark.slow
def test_installed_version(tmp_path: Path) -> None:
    """Every configured logger, the user's added one included, reaches the JSON file."""
    version = _apply(tmp_path, None)
    assert int(version.split(".")[0]) >= 3
    _check(tmp_path)


@pytest.mark.slow
def test_lowest_allowed_version(tmp_path: Path, lowest: Path) -> None:
    """Django starts and logs as above with python-json-logger 2.0.7."""
    assert _apply(tmp_path, lowest) == LOWEST
    _check(tmp_path)
