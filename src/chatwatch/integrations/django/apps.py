from __future__ import annotations

from django.apps import AppConfig


class ChatwatchConfig(AppConfig):
    name = "chatwatch.integrations.django"
    label = "chatwatch"
    verbose_name = "chatwatch"
