"""Rules reloaded by a running server: when the file changes, and on SIGHUP (a real
`chatwatch serve` process); a file that stops loading keeps the last good rules."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from alert_helpers import make_settings

from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from chatwatch.store import Store
from live_server import free_port

CHATWATCH = str(Path(sys.executable).parent / "chatwatch")
ONE = "rules:\n  - {name: first_rule, metric: error_rate, warning: 5, window: 5m}\n"
TWO = "rules:\n  - {name: second_rule, metric: error_rate, warning: 7, window: 5m}\n"


def _names(url: str, key: str) -> list[str]:
    response = httpx.get(
        f"{url}/api/v1/alerts/rules", headers={"Authorization": f"Bearer {key}"}, timeout=5
    )
    return [r["name"] for r in response.json()["rules"]]


def _wait_for(url: str, key: str, want: list[str], seconds: float = 15) -> list[str]:
    deadline = time.monotonic() + seconds
    names = _names(url, key)
    while names != want and time.monotonic() < deadline:
        time.sleep(0.1)
        names = _names(url, key)
    return names


def test_a_changed_file_is_reloaded_and_a_broken_one_ignored(
    tmp_path: Path, make_server: type
) -> None:
    """Edit the rules file: the next rounds use (and the API lists) the new rules; break
    it: the last good rules stay."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(ONE)
    settings = make_settings(
        f"sqlite:///{tmp_path / 'cw.db'}", rules_file=rules, alert_evaluation_interval_s=0.1
    )
    application = create_app(settings)
    store: Store = application.state.chatwatch.store
    key = create_key(store, "read")
    server = make_server(application).start()
    try:
        assert _names(server.url, key) == ["first_rule"]
        rules.write_text(TWO + "# changed\n")
        assert _wait_for(server.url, key, ["second_rule"]) == ["second_rule"]
        rules.write_text("rules: [ {name: broken")
        time.sleep(0.5)
        assert _names(server.url, key) == ["second_rule"]
    finally:
        server.stop()
        store.close()


def test_sighup_reloads_the_rules(tmp_path: Path) -> None:
    """With reloading on file change turned off, only SIGHUP brings the new rules in."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(ONE)
    db = f"sqlite:///{tmp_path / 'cw.db'}"
    store = Store(db)
    key = create_key(store, "read")
    store.close()
    port = free_port()
    env = {
        **os.environ,
        "CHATWATCH_RULES_FILE": str(rules),
        "CHATWATCH_RULES_RELOAD": "false",
        "CHATWATCH_ALERT_EVALUATION_INTERVAL_S": "0.1",
        "CHATWATCH_MAINTENANCE_INTERVAL_S": "0",
    }
    proc = subprocess.Popen(
        [CHATWATCH, "serve", "--port", str(port), "--db", db, "--log-level", "warning"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert _names(url, key) == ["first_rule"]
        rules.write_text(TWO)
        time.sleep(0.5)
        assert _names(url, key) == ["first_rule"]  # no reload on change: off
        proc.send_signal(signal.SIGHUP)
        assert _wait_for(url, key, ["second_rule"]) == ["second_rule"]
        assert proc.poll() is None  # SIGHUP did not stop the server
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
