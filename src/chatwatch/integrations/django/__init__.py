"""Django app: guide 000's management commands, the staff-only ``/chat/analytics/`` entry
and a ready ``LOGGING`` layout. Add ``"chatwatch.integrations.django"`` to INSTALLED_APPS.

Settings (all optional), in ``settings.CHATWATCH``:

- ``URL``, ``API_KEY``, ``SERVICE``: the chatwatch server, an ingest key and the
  assistant's name, for the client ``get_client()`` builds (the Channels mixin and the
  ASGI middleware use it).
- ``DATABASE_URL``: the chatwatch database, read by the management commands and the
  client's target when there is no ``URL`` (default: ``CHATWATCH_DATABASE_URL``).
- ``DASHBOARD_URL``: where the chatwatch dashboard is served (default ``/analytics/`` on
  ``CHATWATCH_BASE_URL``).
"""

from __future__ import annotations

from chatwatch.integrations.django.client import get_client, reset_client

__all__ = ["get_client", "reset_client"]
