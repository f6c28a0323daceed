"""Reading attribute values into event fields: strings checked, numbers bounded.

A string that holds NUL or another C0 control character (or DEL) rejects its span, naming
the attribute: such a value cannot be stored everywhere, and splits log lines. A string
longer than its field is truncated, not refused (OTLP exporters cannot fix it and do not
retry). Only the attributes chatwatch maps are read, so control characters in message
text (``input.value``, prompts) are no concern here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from chatwatch.integrations.otlp.decode import SpanError

__all__ = ["count", "error_label", "json_object", "text"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CLASS = re.compile(r"^<class '([^']+)'>$")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
MAX_COUNT = 100_000_000
MAX_JSON = 65_536


def text(attrs: Mapping[str, Any], *keys: str, limit: int) -> str | None:
    """The first of ``keys`` that holds a non-empty string (numbers are written out)."""
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float):
            value = str(value)
        if not isinstance(value, str) or not value:
            continue
        check(key, value)
        return value[:limit]
    return None


def check(key: str, value: str) -> None:
    if _CONTROL.search(value):
        raise SpanError(key, "holds a NUL or other control character")


def count(attrs: Mapping[str, Any], *keys: str) -> int | None:
    """The first of ``keys`` that holds a token count (an integer, or digits)."""
    for key in keys:
        value = attrs.get(key)
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and value.isdigit() and len(value) < 12:
            value = int(value)
        if not isinstance(value, int):
            raise SpanError(key, "must be an integer")
        if not 0 <= value <= MAX_COUNT:
            raise SpanError(key, f"must be between 0 and {MAX_COUNT}")
        return value
    return None


def json_object(attrs: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A JSON-object attribute (OpenInference's invocation parameters, metadata), or {}."""
    value = attrs.get(key)
    if isinstance(value, dict):
        return value
    if not isinstance(value, str) or len(value) > MAX_JSON:
        return {}
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def error_label(raw: str) -> str:
    """One label per failure whichever library sent it: ``<class 'openai.RateLimitError'>``,
    ``openai.RateLimitError`` and ``RateLimitError`` are all ``RateLimitError``."""
    match = _CLASS.match(raw)
    name = match.group(1) if match else raw
    if _DOTTED.match(name):
        name = name.rsplit(".", 1)[-1]
    return name[:128]
