"""``path("", include("chatwatch.integrations.django.urls"))`` serves /chat/analytics/."""

from __future__ import annotations

from django.urls import path

from chatwatch.integrations.django.views import analytics

urlpatterns = [path("chat/analytics/", analytics, name="chat-analytics")]
