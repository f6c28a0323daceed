"""Django app: guide 000's management commands, the staff-only ``/chat/analytics/`` entry
and a ready ``LOGGING`` layout. Add ``"chatwatch.integrations.django"`` to INSTALLED_APPS.

Settings (all optional), in ``settings.CHATWATCH``:

- ``DATABASE_URL``: the chatwatch database (default: ``CHATWATCH_DATABASE_URL``).
- ``DASHBOARD_URL``: where the chatwatch dashboard is served (default ``/analytics/`` on
  ``CHATWATCH_BASE_URL``).
"""

from __future__ import annotations
