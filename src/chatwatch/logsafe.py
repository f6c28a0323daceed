"""Values typed by users (service names, models, error texts) made safe for one log line.

A CR or LF in a label would split a log line and let a sender forge the next one; other
control characters confuse terminals and log shippers. ``clean`` writes them as escapes
(``\\n``, ``\\x1b``), the way ``repr`` would, and bounds the length.
"""

from __future__ import annotations

import re

__all__ = ["clean"]

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
MAX_CHARS = 2000


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


def clean(value: object, limit: int = MAX_CHARS) -> str:
    """``value`` as text on one line, control characters escaped, at most ``limit`` long."""
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "..."
    return _UNSAFE.sub(_escape, text)
