"""Strings that cannot hurt: a NUL or any other control character in any string of any
event, or of guide 003's query parameters, is a 422 naming index and field, and every
read still answers 200 afterwards, on SQLite and on PostgreSQL. Event times outside
[now - retention, now + 5 minutes] are refused naming ``ts``."""

from __future__ import annotations

import json
import time
import typing
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from chatwatch.config import Settings
from chatwatch.events import Event
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from live_server import LiveServer

MINIMAL: dict[str, dict[str, Any]] = {
    "session_started": {},
    "session_ended": {},
    "turn": {"response_time_ms": 10.0},
    "llm_call": {"model": "m", "latency_ms": 5.0},
    "rag_search": {},
    "cache_lookup": {"hit": True},
    "connection": {"action": "connect"},
    "feedback": {"rating": 4},
    "escalation": {},
    "message": {"sender_type": "user"},
    "heartbeat": {"host": "web-1", "pid": 4242, "memory_rss_mb": 120.0},
}
CONTROLS = ["\x00", "\x01", "\x1b", "\x7f", "\x85"]
READS = ["/monitoring/metrics", "/monitoring/stats/summary", "/api/v1/metrics", "/metrics"]


def _string_fields() -> list[tuple[str, str]]:
    """(event type, field) for every string field of the schema, Literal fields aside."""
    out = []
    for model in typing.get_args(typing.get_args(Event)[0]):
        tag = typing.get_args(model.model_fields["type"].annotation)[0]
        for name, info in model.model_fields.items():
            if name == "attributes" or typing.get_origin(info.annotation) is typing.Literal:
                continue
            if "str" in repr(info.annotation):
                out.append((tag, name))
    return out


FIELDS = _string_fields()


def _event(tag: str, **fields: Any) -> dict[str, Any]:
    return {"type": tag, "id": uuid.uuid4().hex, "ts": time.time(), **MINIMAL[tag], **fields}


@pytest.fixture(scope="module")
def client(module_db: str) -> Iterator[httpx.Client]:
    settings = Settings(
        database_url=module_db,
        alerts_enabled=False,
        _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(settings)
    store = app.state.chatwatch.store
    headers = {"Authorization": f"Bearer {create_key(store, 'admin')}"}
    server = LiveServer(app).start()
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as c:
        yield c
    server.stop()
    store.close()


def _reads_answer(client: httpx.Client) -> None:
    for path in READS:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:500])


def test_the_schema_has_string_fields_in_every_event_type() -> None:
    """The field list the other tests walk is the real one (ids, labels and texts of all types)."""
    assert {tag for tag, _ in FIELDS} == set(MINIMAL)
    assert {"service", "session_id", "user_id", "model", "topic", "text"} <= {f for _, f in FIELDS}


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_a_control_character_in_any_field_is_refused_naming_it(
    client: httpx.Client, control: str
) -> None:
    """Every string field of every type holding the character: 422, each event named
    with its field."""
    batch = [_event(tag, **{name: f"a{control}b"}) for tag, name in FIELDS]
    batch.append(_event("message", attributes={"note": f"x{control}y"}))
    batch.append(_event("message", attributes={f"k{control}": "v"}))
    response = client.post("/api/v1/events", json=batch)
    assert response.status_code == 422, response.text[:300]
    errors = response.json()["detail"]
    named = {(e["index"], (e["field"] or "").split(".")[0]) for e in errors}
    expected = {(i, name) for i, (_, name) in enumerate(FIELDS)}
    expected |= {(len(FIELDS), "attributes"), (len(FIELDS) + 1, "attributes")}
    assert expected <= named
    assert {e["index"] for e in errors} == set(range(len(batch)))
    _reads_answer(client)


def test_each_bad_field_alone_fails_its_batch_and_reads_go_on(client: httpx.Client) -> None:
    """A NUL in one field of one event among good ones refuses the batch; reads stay 200."""
    before = client.get("/api/v1/metrics").json()["metrics"]["total_requests"]["value"]
    for tag, name in FIELDS:
        batch = [_event("turn"), _event(tag, **{name: "x\x00"})]
        response = client.post("/api/v1/events", json=batch)
        assert response.status_code == 422, (tag, name)
        assert [(e["index"], e["field"]) for e in response.json()["detail"]] == [(1, name)]
    _reads_answer(client)
    after = client.get("/api/v1/metrics").json()["metrics"]["total_requests"]["value"]
    assert after == before  # nothing half-stored


def test_label_values_keep_to_the_safe_set(client: httpx.Client) -> None:
    """Letters (any script), digits, space and _ . : - / @ + pass; markup and newlines do not."""
    good = _event("llm_call", model="anthropic/claude-3.5:sonnet@2024+x", service="Café bot 1")
    response = client.post("/api/v1/events", json=[good])
    assert response.status_code == 202, response.text
    for value in ["<https://evil.example|x>", "a\nb", "a&b", "a\u202eb", ""]:
        response = client.post("/api/v1/events", json=[_event("turn", service=value)])
        assert response.status_code == 422, value
        (error,) = response.json()["detail"]
        assert (error["index"], error["field"]) == (0, "service")
    too_long = _event("turn", service="s" * 65)
    assert client.post("/api/v1/events", json=[too_long]).status_code == 422
    _reads_answer(client)


def test_free_text_keeps_tabs_and_newlines(client: httpx.Client) -> None:
    """A message text or comment may hold tab and newline, not NUL."""
    ok = [_event("message", text="line 1\n\tline 2\r\n"), _event("feedback", comment="fine\n")]
    assert client.post("/api/v1/events", json=ok).status_code == 202


@pytest.mark.parametrize(
    "param", ["service", "session_id", "user_id", "user_type", "model", "topic", "error_type"]
)
def test_guide_query_parameters_refuse_controls(client: httpx.Client, param: str) -> None:
    """POST /monitoring/chat/metrics, a NUL or newline in a string parameter: 422 naming it."""
    for bad in ["a\x00b", "a\nb"]:
        params = {"success": "false", "response_time_ms": "12", param: bad}
        response = client.post("/monitoring/chat/metrics", params=params)
        assert response.status_code == 422, response.text
        assert any(e["loc"][-1] == param for e in response.json()["detail"])
    _reads_answer(client)


def test_read_filters_refuse_controls(client: httpx.Client) -> None:
    """A NUL in a read's filter is a 422, not a database error; a blank filter is none."""
    reads = {
        "/monitoring/metrics": ["service", "model", "user_type", "channel"],
        "/api/v1/sessions": ["service", "user_id", "user_type", "topic", "q"],
    }
    for path, params in reads.items():
        for param in params:
            response = client.get(path, params={param: "a\x00"})
            assert response.status_code == 422, (path, param)
            assert response.json()["detail"][0]["loc"] == ["query", param]
            assert client.get(path, params={param: ""}).status_code == 200, (path, param)
    for param in ["since", "until"]:
        response = client.get("/api/v1/sessions", params={param: "0.5"})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", param]


@pytest.mark.parametrize(
    "ts",
    [
        "2999-01-01T00:00:00Z",
        32_000_000_000.0,
        "0001-01-01T00:00:00Z",
        1.0,
        "2020-01-01T00:00:00+00:00",
        time.time() + 3600,
        datetime.fromtimestamp(time.time() - 40 * 86400, UTC).isoformat(),
    ],
)
def test_event_times_outside_the_window_are_refused(client: httpx.Client, ts: object) -> None:
    """Past the event retention or more than 5 minutes ahead, number or ISO: 422 naming ts."""
    response = client.post("/api/v1/events", json=[_event("turn"), _event("turn", ts=ts)])
    assert response.status_code == 422, response.text
    assert [(e["index"], e["field"]) for e in response.json()["detail"]] == [(1, "ts")]


def test_times_near_now_are_taken(client: httpx.Client) -> None:
    """A minute ahead (a fast clock) or a week ago are inside the window."""
    now = time.time()
    batch = [_event("turn", ts=now + 60), _event("turn", ts=now - 7 * 86400)]
    assert client.post("/api/v1/events", json=batch).status_code == 202


def test_start_equal_to_end_is_one_minute_and_numbers_are_not_dates(client: httpx.Client) -> None:
    """start == end reads the minute holding it; until=0.5 is refused naming until."""
    at = "2026-12-01T10:00:30Z"
    response = client.get("/api/v1/metrics", params={"start": at, "end": at})
    assert response.status_code == 200, response.text
    window = response.json()["window"]
    assert window["end"] - window["start"] == 60
    bad = client.get("/api/v1/metrics", params={"start": at, "end": "2026-12-01T09:00:00Z"})
    assert bad.status_code == 422
    for param in ["since", "until"]:
        response = client.get("/api/v1/alerts/history", params={param: "0.5"})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", param]
    response = client.get("/monitoring/metrics", params={"start": "0", "end": "5"})
    assert response.status_code == 422


def test_a_batch_must_be_json(client: httpx.Client) -> None:
    """Another declared Content-Type is a 415; none at all is read as JSON."""
    body = json.dumps([_event("turn")]).encode()
    response = client.post("/api/v1/events", content=body, headers={"Content-Type": "text/csv"})
    assert response.status_code == 415
    response = client.post("/api/v1/events", content=body)  # httpx declares no type here
    assert "content-type" not in response.request.headers
    assert response.status_code == 202
