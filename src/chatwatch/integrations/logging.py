"""Guide 000's logging layout as a ready ``logging.config.dictConfig`` dict.

Verbose and JSON formatters, a console handler, and rotating files of 10 MB x 5: the
main log, an errors-only log and a JSON log (for ``jq``). Every configured logger
writes to all of them (the errors file keeps only ERROR and above). The guide's Django
loggers (``services.chat`` and its children) and ``chatwatch`` are always there;
``loggers=`` adds yours (names, or names mapped to the handlers they should use).

The JSON formatter works with every python-json-logger the project allows: 3.1+ moved
it to ``pythonjsonlogger.json``, 2.x has it in ``pythonjsonlogger.jsonlogger``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_LOGGERS", "HANDLERS", "json_formatter", "logging_config"]

MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5
HANDLERS: tuple[str, ...] = ("console", "file", "error_file", "json_file")
DEFAULT_LOGGERS: dict[str, tuple[str, ...]] = {
    name: HANDLERS
    for name in (
        "services.chat",
        "services.chat.consumers",
        "services.chat.manager",
        "services.chat.ai_processor",
        "chatwatch",
    )
}


def json_formatter(
    fmt: str | None = None, format: str | None = None, **kwargs: Any
) -> logging.Formatter:
    """python-json-logger's ``JsonFormatter``, from whichever module the installed
    version has (``"()": "chatwatch.integrations.logging.json_formatter"``)."""
    try:
        module = importlib.import_module("pythonjsonlogger.json")
    except ImportError:  # python-json-logger < 3.1
        module = importlib.import_module("pythonjsonlogger.jsonlogger")
    formatter: logging.Formatter = module.JsonFormatter(fmt or format, **kwargs)
    return formatter


def _rotating(path: Path, level: str, formatter: str) -> dict[str, Any]:
    return {
        "level": level,
        "class": "logging.handlers.RotatingFileHandler",
        "filename": str(path),
        "maxBytes": MAX_BYTES,
        "backupCount": BACKUPS,
        "formatter": formatter,
        "encoding": "utf-8",
    }


def _chosen(loggers: Iterable[str] | Mapping[str, Iterable[str]] | None) -> dict[str, Any]:
    chosen: dict[str, tuple[str, ...]] = dict(DEFAULT_LOGGERS)
    if isinstance(loggers, Mapping):
        chosen.update({name: tuple(handlers) for name, handlers in loggers.items()})
    elif loggers is not None:
        if isinstance(loggers, str):
            raise TypeError("loggers= takes a list of logger names, not one string")
        chosen.update({name: HANDLERS for name in loggers})
    for name, handlers in chosen.items():
        unknown = set(handlers) - set(HANDLERS)
        if unknown:
            raise ValueError(f"logger {name!r}: unknown handlers {sorted(unknown)}")
    return chosen


def logging_config(
    log_dir: str | Path = "/var/log/django",
    *,
    level: str = "INFO",
    prefix: str = "chat",
    loggers: Iterable[str] | Mapping[str, Iterable[str]] | None = None,
    create_dir: bool = True,
) -> dict[str, Any]:
    """``LOGGING = logging_config("/var/log/django", loggers=["myapp"])`` in Django
    settings, or ``logging.config.dictConfig`` it."""
    directory = Path(log_dir)
    if create_dir:
        directory.mkdir(parents=True, exist_ok=True)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "verbose": {
                "format": "{levelname} {asctime} {module} {process:d} {thread:d} {message}",
                "style": "{",
            },
            "json": {
                "()": "chatwatch.integrations.logging.json_formatter",
                "fmt": "%(asctime)s %(name)s %(levelname)s %(message)s",
            },
        },
        "handlers": {
            "console": {"level": level, "class": "logging.StreamHandler", "formatter": "verbose"},
            "file": _rotating(directory / f"{prefix}.log", level, "verbose"),
            "error_file": _rotating(directory / f"{prefix}_errors.log", "ERROR", "verbose"),
            "json_file": _rotating(directory / f"{prefix}_json.log", level, "json"),
        },
        "loggers": {
            name: {"handlers": list(handlers), "level": level, "propagate": False}
            for name, handlers in _chosen(loggers).items()
        },
    }
