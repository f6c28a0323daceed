"""Guide 000's logging layout as a ready ``logging.config.dictConfig`` dict.

Verbose and JSON formatters, a console handler, and rotating files of 10 MB x 5: the
main log, an errors-only log and a JSON log (for ``jq``). The guide's Django loggers
(``services.chat`` and its children) are kept; add your own names with ``loggers``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_LOGGERS", "logging_config"]

MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5
DEFAULT_LOGGERS: dict[str, tuple[str, ...]] = {
    "services.chat": ("console", "file", "error_file", "json_file"),
    "services.chat.consumers": ("console", "file"),
    "services.chat.manager": ("console", "file"),
    "services.chat.ai_processor": ("console", "file", "error_file"),
    "chatwatch": ("console", "file", "error_file", "json_file"),
}


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


def logging_config(
    log_dir: str | Path = "/var/log/django",
    *,
    level: str = "INFO",
    prefix: str = "chat",
    loggers: dict[str, tuple[str, ...]] | None = None,
    create_dir: bool = True,
) -> dict[str, Any]:
    """``LOGGING = logging_config("/var/log/django")`` in Django settings, or dictConfig it."""
    directory = Path(log_dir)
    if create_dir:
        directory.mkdir(parents=True, exist_ok=True)
    chosen = DEFAULT_LOGGERS if loggers is None else loggers
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "verbose": {
                "format": "{levelname} {asctime} {module} {process:d} {thread:d} {message}",
                "style": "{",
            },
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "format": "%(asctime)s %(name)s %(levelname)s %(message)s",
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
            for name, handlers in chosen.items()
        },
    }
