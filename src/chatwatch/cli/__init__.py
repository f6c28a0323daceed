"""The ``chatwatch`` command. Each module registers its commands on the shared app."""

from __future__ import annotations

from chatwatch.cli import (  # noqa: F401  (registration)
    alerts,
    demo,
    export,
    grafana,
    keys,
    maintenance,
    report,
    serve,
    users,
)
from chatwatch.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
