"""The rules a running server evaluates, reloaded without a restart: when the rules file
changes (its modification time and size, looked at before every round) or on SIGHUP.
A file that no longer loads keeps the last good rules and says why in the log, so a typo
never turns alerting off."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

from chatwatch.alerts.rules import Rule, RulesError, load_rules

__all__ = ["RulesSource", "watch_sighup"]

log = logging.getLogger("chatwatch.alerts")


class RulesSource:
    def __init__(
        self,
        path: Path | str | None,
        rules: list[Rule],
        extras: dict[str, Any] | None = None,
        watch: bool = True,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.rules = list(rules)
        self.extras = extras if extras is not None else {}
        self.watch = watch
        self._stamp = self._stat()
        self._asked = threading.Event()
        self.reloads = 0

    def _stat(self) -> tuple[float, int] | None:
        if self.path is None:
            return None
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return (info.st_mtime, info.st_size)

    def request(self) -> None:
        """Reload before the next round (what SIGHUP does)."""
        self._asked.set()

    def current(self) -> list[Rule]:
        """The rules for this round, reloaded first when asked or when the file changed."""
        stamp = self._stat()
        asked = self._asked.is_set()
        if not asked and not (self.watch and stamp != self._stamp):
            return self.rules
        self._asked.clear()
        self._stamp = stamp
        try:
            loaded = load_rules(self.path)
        except RulesError as exc:
            log.error("alerts: rules not reloaded, keeping the %d in use: %s", len(self.rules), exc)
            return self.rules
        if loaded != self.rules:
            self.rules = loaded
            self.reloads += 1
            self.extras["alert_rules"] = loaded
            log.info("alerts: %d rules reloaded from %s", len(loaded), self.path or "defaults")
        return self.rules


def watch_sighup(source: RulesSource) -> bool:
    """SIGHUP asks ``source`` to reload; False where signals cannot be set (not the main
    thread, or no SIGHUP on this OS)."""
    hup = getattr(signal, "SIGHUP", None)
    if hup is None or threading.current_thread() is not threading.main_thread():
        return False
    try:
        import asyncio

        asyncio.get_running_loop().add_signal_handler(hup, source.request)
    except (RuntimeError, NotImplementedError, ValueError):
        return False
    return True
