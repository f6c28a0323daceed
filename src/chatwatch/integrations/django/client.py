"""The one chatwatch client of a Django project, built from ``settings.CHATWATCH``.

``URL`` and ``API_KEY`` (an ingest key) send events to a chatwatch server; without a URL,
``DATABASE_URL`` writes them straight into that chatwatch database. ``SERVICE`` names the
assistant. Anything left out falls back to ``CHATWATCH_URL``, ``CHATWATCH_API_KEY`` and
``CHATWATCH_DATABASE_URL``. The Channels mixin, the ASGI middleware in ``asgi.py`` and
your own code share it: ``from chatwatch.integrations.django import get_client``.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from chatwatch.sdk import Client, StoreTransport

__all__ = ["get_client", "reset_client"]

_lock = threading.Lock()
_client: Client | None = None
_OPTIONS = ("FLUSH_INTERVAL", "BATCH_SIZE", "MAX_QUEUE", "TIMEOUT")


def _settings() -> dict[str, Any]:
    from django.conf import settings

    return dict(getattr(settings, "CHATWATCH", {}) or {})


def _build(conf: dict[str, Any]) -> Client:
    options: dict[str, Any] = {k.lower(): conf[k] for k in _OPTIONS if k in conf}
    service = str(conf.get("SERVICE") or "default")
    url = conf.get("URL") or os.environ.get("CHATWATCH_URL")
    if url:
        key = conf.get("API_KEY") or os.environ.get("CHATWATCH_API_KEY")
        return Client(str(url), key, service=service, **options)
    database = conf.get("DATABASE_URL") or os.environ.get("CHATWATCH_DATABASE_URL")
    if database:
        from chatwatch.store import Store

        return Client(service=service, transport=StoreTransport(Store(str(database))), **options)
    return Client(service=service, **options)  # warns once: events are discarded


def get_client() -> Client:
    """The project's client, made on first use from the settings."""
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                _client = _build(_settings())
    return _client


def reset_client() -> None:
    """Close the client (delivering what it holds); the next ``get_client`` builds anew."""
    global _client
    with _lock:
        client, _client = _client, None
    if client is not None:
        client.close()
