"""The README's settings, with the chatwatch server, keys and paths from the test."""

from __future__ import annotations

import os

from chatwatch.integrations.logging import logging_config

SECRET_KEY = "integration-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
    "chatwatch.integrations.django",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "djproject.urls"
ASGI_APPLICATION = "djproject.asgi.application"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["DJANGO_DB"]}}
USE_TZ = True

CHATWATCH = {
    "URL": os.environ["CHATWATCH_URL"],
    "API_KEY": os.environ["CHATWATCH_API_KEY"],
    "SERVICE": "sophie",
    "DATABASE_URL": os.environ.get("CHATWATCH_DATABASE_URL"),
    "FLUSH_INTERVAL": 0.05,
}

LOGGING = logging_config(
    os.environ.get("DJANGO_LOG_DIR", "/tmp/chatwatch-djproject-logs"),
    loggers={"djproject": ("console", "file", "error_file", "json_file")},
)

if os.environ.get("SENTRY_DSN"):
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration

    from chatwatch.integrations.sentry import sentry_options

    sentry_sdk.init(**sentry_options(integrations=[DjangoIntegration()]))
