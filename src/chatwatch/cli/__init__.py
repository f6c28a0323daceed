"""The ``chatwatch`` command. Each module registers its commands on the shared app."""

from __future__ import annotations

from chatwatch.cli import alerts, demo, export, keys, maintenance, report, serve, users  # noqa: F401  (registration)
from chatwatch.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
