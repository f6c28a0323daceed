"""The chatwatch server: ingest, read APIs, auth, health."""

from __future__ import annotations

from chatwatch.server.app import create_app

__all__ = ["create_app"]
