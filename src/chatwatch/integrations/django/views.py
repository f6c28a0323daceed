"""``/chat/analytics/`` inside the Django site: staff only, then on to the dashboard."""

from __future__ import annotations

from django.contrib.auth.decorators import user_passes_test
from django.http import HttpRequest, HttpResponseRedirect

from chatwatch.config import Settings
from chatwatch.integrations.django.bridge import chatwatch_settings

__all__ = ["analytics"]


def dashboard_url() -> str:
    configured = chatwatch_settings().get("DASHBOARD_URL")
    if configured:
        return str(configured)
    return Settings().base_url.rstrip("/") + "/analytics/"


@user_passes_test(lambda user: bool(user.is_active and user.is_staff))
def analytics(request: HttpRequest) -> HttpResponseRedirect:
    return HttpResponseRedirect(dashboard_url())
