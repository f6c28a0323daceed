"""Sentry: guide 000's ``sentry_sdk.init`` settings, made safe for a chat app, plus a
``before_send`` that tags each error with the chatwatch run and session it happened in.

``sentry_sdk.init(**sentry_options(integrations=[DjangoIntegration()]))``:

- no personal data: ``send_default_pii=False``, no frame variables
  (``include_local_variables=False``) and no request bodies
  (``max_request_body_size="never"``) unless you pass them;
- ``before_send`` scrubs every event: cookies, authorization and API-key headers, as
  dicts *and* as the ``[name, value]`` byte pairs of an ASGI scope; session cookies,
  bearer tokens and chatwatch keys inside any string; and the turn's chat text (the
  message a Channels consumer received, the JSON strings of a chat request, what the app
  gave ``turn.set(input_text=..., output_text=...)``), replaced by ``[Filtered]``;
- the tags ``chatwatch.run_id`` and ``chatwatch.session_id`` on every error raised in a
  turn however late it is captured: the failed turn is kept on the exception itself, and
  the last turn of the request or task on its context, so FastAPI's, Django's and a
  later ``log.exception`` capture all find it (a later request or task of the same
  thread, in another Sentry scope, does not).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from chatwatch.sdk.turn import BEGIN_HOOKS, TurnScope, current_turn, last_turn, turn_of

__all__ = ["before_send", "before_send_transaction", "scrub", "sentry_options"]

Hook = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any] | None]
FILTERED = "[Filtered]"
_SECRET_NAMES = {
    "cookie",
    "set-cookie",
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "x-csrftoken",
    "x-chatwatch-key",
    "sessionid",
    "csrftoken",
    "csrfmiddlewaretoken",
    "api_key",
    "password",
}
_SECRET_TEXT = re.compile(
    r"(?i)(?:\b(?:sessionid|csrftoken)=[^;\s'\"]+"
    r"|\bbearer\s+[A-Za-z0-9._~+/=-]+"
    r"|\btoken\s+[A-Za-z0-9._~+/=-]{16,}"
    r"|\bcw_(?:ingest|read|admin)_[A-Za-z0-9_-]+)"
)


def _name(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return value.decode("latin-1", "replace").lower()
    return str(value).lower()


def _text(value: str, texts: list[str]) -> str:
    for text in texts:
        if text in value:
            value = value.replace(text, FILTERED)
    return _SECRET_TEXT.sub(FILTERED, value)


def scrub(value: Any, texts: list[str]) -> Any:
    """``value`` with secrets and the given chat texts replaced by ``[Filtered]``."""
    if isinstance(value, str):
        return _text(value, texts)
    if isinstance(value, bytes | bytearray):
        return _text(value.decode("latin-1", "replace"), texts)
    if isinstance(value, dict):
        return {
            k: FILTERED if _name(k) in _SECRET_NAMES else scrub(v, texts) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        if len(value) == 2 and _name(value[0]) in _SECRET_NAMES:
            return [scrub(value[0], texts), FILTERED]  # an ASGI header pair
        return [scrub(v, texts) for v in value]
    return value


def _texts(turn: TurnScope | None) -> list[str]:
    if turn is None:
        return []
    # longest first, so a text containing another is replaced whole
    return sorted({t for t in turn.root.sensitive if len(t) >= 6}, key=len, reverse=True)


def _isolation_scope() -> object:
    """Sentry's scope of the request or task running now (its integrations make one per
    ASGI/WSGI request, Django request, Celery task...), or None without sentry_sdk."""
    sdk = sys.modules.get("sentry_sdk")
    get = getattr(sdk, "get_isolation_scope", None)
    return get() if get is not None else None


def _note_origin(turn: TurnScope) -> None:
    turn.origin = _isolation_scope()


if _note_origin not in BEGIN_HOOKS:
    BEGIN_HOOKS.append(_note_origin)


def _late_turn() -> TurnScope | None:
    """The current turn, else the last one that ran in this context *if it began in the
    request or task running now*: a worker thread's next job (another Sentry scope) is
    not tagged with the previous job's turn."""
    turn = current_turn()
    if turn is not None:
        return turn
    last = last_turn()
    if last is None or (last.origin is not None and last.origin is not _isolation_scope()):
        return None
    return last


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    exc_info = hint.get("exc_info") if hint else None
    turn = turn_of(exc_info[1]) if exc_info else None
    turn = turn or _late_turn()
    if turn is not None:
        tags = event.setdefault("tags", {})
        tags["chatwatch.run_id"] = turn.run_id
        if turn.session_id:
            tags["chatwatch.session_id"] = turn.session_id
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("data", None)
        request.pop("cookies", None)
    cleaned: dict[str, Any] = scrub(event, _texts(turn))
    return cleaned


def _sdk_version() -> str | None:
    try:
        return version("sentry-sdk")
    except PackageNotFoundError:
        return None


def before_send_transaction(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    """Transactions carry request data too: scrubbed the same way (no tags)."""
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("data", None)
        request.pop("cookies", None)
    cleaned: dict[str, Any] = scrub(event, _texts(_late_turn()))
    return cleaned


def sentry_options(**overrides: Any) -> dict[str, Any]:
    """Options for ``sentry_sdk.init``; the DSN and environment come from ``SENTRY_DSN``
    and ``ENVIRONMENT``. Your ``before_send`` (if any) runs after chatwatch's.

    For sentry-sdk 2.x: 3.0 replaced ``send_default_pii`` and ``include_local_variables``
    with ``data_collection`` and sends transactions as spans, past ``before_send_transaction``,
    so these options would not init there (and chatwatch[sentry] asks for <3)."""
    installed = _sdk_version()
    if installed is not None and not installed.startswith(("0.", "1.", "2.")):
        raise RuntimeError(
            f"chatwatch's Sentry options are for sentry-sdk 2.x, not {installed}: "
            "pip install 'sentry-sdk>=2,<3'"
        )
    options: dict[str, Any] = {
        "dsn": os.environ.get("SENTRY_DSN"),
        "traces_sample_rate": 0.1,
        "send_default_pii": False,
        "include_local_variables": False,
        "max_request_body_size": "never",
        "environment": os.environ.get("ENVIRONMENT", "production"),
        "before_send_transaction": before_send_transaction,
    }
    theirs: Hook | None = overrides.pop("before_send", None)
    options.update(overrides)
    if theirs is None:
        options["before_send"] = before_send
    else:

        def both(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
            ours = before_send(event, hint)
            return None if ours is None else theirs(ours, hint)

        options["before_send"] = both
    return options
