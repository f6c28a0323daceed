"""Sentry: guide 000's ``sentry_sdk.init`` settings, plus a ``before_send`` that tags each
error with the chatwatch run and session it happened in, so an issue in Sentry leads to
the run in the chatwatch dashboard and back."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from chatwatch.sdk.turn import current_turn

__all__ = ["before_send", "sentry_options"]

Hook = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any] | None]


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    turn = current_turn()
    if turn is not None:
        tags = event.setdefault("tags", {})
        tags["chatwatch.run_id"] = turn.run_id
        if turn.session_id:
            tags["chatwatch.session_id"] = turn.session_id
    return event


def sentry_options(**overrides: Any) -> dict[str, Any]:
    """``sentry_sdk.init(**sentry_options(integrations=[DjangoIntegration()]))``.

    Personal data stays out (``send_default_pii=False``) and 10 % of transactions are
    traced, as the guide sets; the DSN and environment come from ``SENTRY_DSN`` and
    ``ENVIRONMENT``.
    """
    options: dict[str, Any] = {
        "dsn": os.environ.get("SENTRY_DSN"),
        "traces_sample_rate": 0.1,
        "send_default_pii": False,
        "environment": os.environ.get("ENVIRONMENT", "production"),
        "before_send": before_send,
    }
    options.update(overrides)
    return options
