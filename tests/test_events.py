"""Event timestamps: Unix seconds or ISO 8601, held as Unix seconds in UTC."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from chatwatch.events import error_details, parse_events

BASE = {"type": "message", "id": "m1", "sender_type": "user"}
SECONDS = datetime(2026, 9, 21, 14, 3, 20, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    "ts",
    [
        SECONDS,
        int(SECONDS),
        "2026-09-21T14:03:20Z",
        "2026-09-21T14:03:20",  # naive: read as UTC
        "2026-09-21T16:03:20+02:00",
        int(SECONDS * 1000),  # milliseconds, as pydantic reads large numbers
        datetime(2026, 9, 21, 14, 3, 20, tzinfo=UTC),
        datetime(2026, 9, 21, 9, 3, 20, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_timestamps_become_unix_seconds(ts: object) -> None:
    assert parse_events([{**BASE, "ts": ts}])[0].ts == SECONDS


def test_json_numbers_and_strings_alike() -> None:
    body = json.dumps([{**BASE, "ts": SECONDS}, {**BASE, "id": "m2", "ts": "2026-09-21T14:03:20Z"}])
    assert [e.ts for e in parse_events(body.encode())] == [SECONDS, SECONDS]


@pytest.mark.parametrize("ts", ["yesterday", None, True, float("nan"), "2026-13-01T00:00:00"])
def test_a_bad_timestamp_is_one_error_naming_ts(ts: object) -> None:
    with pytest.raises(ValidationError) as info:
        parse_events([{**BASE}, {**BASE, "id": "m2", "ts": ts}])
    details = [d for d in error_details(info.value) if d["index"] == 1]
    assert [(d["field"], d["msg"]) for d in details] == [
        ("ts", "Input should be Unix seconds or an ISO 8601 date-time")
    ]
