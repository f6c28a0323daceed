"""``/chat/analytics/`` inside the Django site: staff only, then on to the dashboard.

Anonymous visitors go to ``settings.LOGIN_URL`` when that route exists (else the admin's
login, if the admin is installed); when the site has no login page at all they get a
403 saying so, never a redirect to a missing ``/accounts/login/``. Logged-in users who
are not staff get a 403.
"""

from __future__ import annotations

from urllib.parse import urlparse

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.urls import NoReverseMatch, Resolver404, resolve, reverse

from chatwatch.config import Settings
from chatwatch.integrations.django.bridge import chatwatch_settings

__all__ = ["analytics", "dashboard_url", "login_url"]


def dashboard_url() -> str:
    configured = chatwatch_settings().get("DASHBOARD_URL")
    if configured:
        return str(configured)
    return Settings().base_url.rstrip("/") + "/analytics/"


def login_url() -> str | None:
    """``LOGIN_URL`` if it leads somewhere, else the admin's login, else None."""
    url = str(resolve_url(settings.LOGIN_URL))
    parts = urlparse(url)
    if parts.netloc:
        return url  # another site's login: trusted as configured
    try:
        resolve(parts.path)
        return url
    except Resolver404:
        pass
    try:
        return str(reverse("admin:login"))
    except NoReverseMatch:
        return None


def analytics(request: HttpRequest) -> HttpResponse:
    user = request.user
    if getattr(user, "is_active", False) and getattr(user, "is_staff", False):
        return HttpResponseRedirect(dashboard_url())
    if getattr(user, "is_authenticated", False):
        return HttpResponseForbidden("The chat analytics are for staff only.")
    login = login_url()
    if login is None:
        return HttpResponseForbidden("The chat analytics are for staff only: log in first.")
    return redirect_to_login(request.get_full_path(), login)
