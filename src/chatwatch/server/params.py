"""Query-parameter types shared by the routes: ISO date-times only, label values kept to
the event schema's safe set (docs/events.md)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import BeforeValidator, Field

from chatwatch.events import LABEL_PATTERN, NAME_PATTERN

__all__ = [
    "FilterLabel",
    "FilterLongLabel",
    "FilterName",
    "IsoDateTime",
    "LabelQuery",
    "LongLabelQuery",
    "NameQuery",
]

_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _iso_only(value: object) -> object:
    """A bare number (``until=0.5``) is refused rather than read as seconds since 1970."""
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        raise ValueError("give an ISO 8601 date-time (e.g. 2026-12-02T10:00:00Z), not a number")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_only)]
LabelQuery = Annotated[str, Field(min_length=1, max_length=64, pattern=LABEL_PATTERN)]
LongLabelQuery = Annotated[str, Field(min_length=1, max_length=128, pattern=LABEL_PATTERN)]
NameQuery = Annotated[str, Field(min_length=1, max_length=128, pattern=NAME_PATTERN)]

# Read filters: the same characters, and empty allowed (a form's blank field: no filter).
_EMPTY_OR = "^$|"
FilterLabel = Annotated[str, Field(max_length=64, pattern=_EMPTY_OR + LABEL_PATTERN)]
FilterLongLabel = Annotated[str, Field(max_length=128, pattern=_EMPTY_OR + LABEL_PATTERN)]
FilterName = Annotated[str, Field(max_length=128, pattern=_EMPTY_OR + NAME_PATTERN)]
