"""The chatwatch server: ingest, read APIs, auth, health.

``create_app`` is imported on first use, so the ingest worker processes, which import
only ``chatwatch.server.parse_pool``, do not load the whole app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chatwatch.server.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from chatwatch.server.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
