"""``GET /metrics``: guide 000's names, labels, buckets and values, read from the store."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from chatwatch.config import Settings
from chatwatch.events import parse_events
from chatwatch.metrics.operational import OPERATIONAL_FAMILIES
from chatwatch.metrics.prometheus import family_names
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from chatwatch.store import Store
from live_server import bearer

GUIDE_BUCKETS = ["0.1", "0.5", "1.0", "2.0", "5.0", "10.0", "+Inf"]
NAME = re.compile(r"^chat_[a-z0-9_]+$")


def _event(kind: str, session: str, **fields: Any) -> dict[str, Any]:
    base = {"id": uuid.uuid4().hex, "ts": datetime.now(UTC).isoformat(), "type": kind}
    return {**base, "service": "shop", "session_id": session, **fields}


def _workload() -> list[dict[str, Any]]:
    """Three sessions, seven turns (two failed), known response times and connections."""
    events = [
        _event("session_started", "s1", user_type="free", channel="websocket"),
        _event("session_started", "s2", user_type="free", channel="websocket"),
        _event("session_started", "s3", user_type="premium", channel="http"),
        _event("connection", "s1", user_type="free", action="connect"),
        _event("connection", "s2", user_type="free", action="connect"),
        _event("connection", "s2", user_type="free", action="disconnect"),
        _event("session_ended", "s2", user_type="free"),
        _event("message", "s3", user_type="premium", sender_type="agent"),
    ]
    # response times in ms: one per guide-000 bucket, plus one above 10 s
    for i, rt in enumerate((50, 400, 800, 1500, 4000, 9000, 12000)):
        session, user_type = ("s1", "free") if i < 4 else ("s3", "premium")
        fail = {"success": False, "error_type": "Timeout" if i == 0 else "RateLimit"}
        extra = fail if i in (0, 5) else {}
        events.append(_event("turn", session, user_type=user_type, response_time_ms=rt, **extra))
    return events


def _scrape(url: str, **kw: Any) -> dict[str, list[Sample]]:
    response = httpx.get(f"{url}/metrics", timeout=10, **kw)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    out: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(response.text):
        out.setdefault(family.name, []).extend(family.samples)
    return out


def _value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(found) == 1, (name, labels, [s for s in samples if s.name == name])
    return found[0]


@pytest.fixture
def served(settings: Settings, make_server: type[Any]) -> Iterator[tuple[Store, str]]:
    store = Store(settings.database_url)
    store.ingest(parse_events(_workload()))
    server = make_server(create_app(settings, store)).start()
    yield store, server.url
    store.close()


def test_guide_000_names_labels_and_values(served: tuple[Store, str]) -> None:
    """Messages, sessions, errors, the response-time histogram and both gauges are exact."""
    _store, url = served
    fam = _scrape(url, headers=bearer(_store))
    messages = fam["chat_messages"]
    # a turn is a user and an assistant message
    assert (
        _value(
            messages, "chat_messages_total", service="shop", sender_type="user", user_type="free"
        )
        == 4
    )
    assert (
        _value(
            messages,
            "chat_messages_total",
            service="shop",
            sender_type="assistant",
            user_type="free",
        )
        == 4
    )
    assert (
        _value(
            messages, "chat_messages_total", service="shop", sender_type="user", user_type="premium"
        )
        == 3
    )
    assert (
        _value(
            messages,
            "chat_messages_total",
            service="shop",
            sender_type="agent",
            user_type="premium",
        )
        == 1
    )
    sessions = fam["chat_sessions"]
    assert _value(sessions, "chat_sessions_total", service="shop", user_type="free") == 2
    assert _value(sessions, "chat_sessions_total", service="shop", user_type="premium") == 1
    errors = fam["chat_errors"]
    assert _value(errors, "chat_errors_total", service="shop", error_type="Timeout") == 1
    assert _value(errors, "chat_errors_total", service="shop", error_type="RateLimit") == 1
    hist = fam["chat_response_time_seconds"]
    buckets = [s for s in hist if s.name == "chat_response_time_seconds_bucket"]
    assert [s.labels["le"] for s in buckets] == GUIDE_BUCKETS
    assert [s.value for s in buckets] == [1, 2, 3, 4, 5, 6, 7]
    assert _value(hist, "chat_response_time_seconds_count", service="shop") == 7
    assert _value(hist, "chat_response_time_seconds_sum", service="shop") == pytest.approx(27.75)
    # s1 and s3 are open (s2 ended); only s1 still has its WebSocket connection
    assert _value(fam["chat_active_sessions"], "chat_active_sessions", service="shop") == 2
    ws = fam["chat_websocket_connections"]
    assert _value(ws, "chat_websocket_connections", service="shop") == 1


def test_every_sample_is_named_by_the_rules_and_labelled_by_service(
    served: tuple[Store, str],
) -> None:
    """chat_ prefix, _total on counters, a service label, no user or session ids."""
    store, url = served
    response = httpx.get(f"{url}/metrics", timeout=10, headers=bearer(store))
    families = list(text_string_to_metric_families(response.text))
    assert {f.name for f in families if f.samples} >= {
        "chat_messages",
        "chat_sessions",
        "chat_errors",
        "chat_response_time_seconds",
        "chat_active_sessions",
        "chat_websocket_connections",
        "chat_process_resident_memory_bytes",
    }
    exposed = set(family_names())
    for family in families:
        assert NAME.match(family.name), family.name
        assert (f"{family.name}_total" if family.type == "counter" else family.name) in exposed
        for sample in family.samples:
            # the store's own health belongs to no service
            assert "service" in sample.labels or family.name in OPERATIONAL_FAMILIES, sample
            assert not {"user_id", "session_id"} & set(sample.labels), sample
            assert sample.value == sample.value  # no NaN


def test_counters_stay_monotonic_across_a_restart(
    served: tuple[Store, str], settings: Settings, make_server: type[Any]
) -> None:
    """Totals come from the store, so a new process reports the same and then more."""
    store, url = served
    read = bearer(store)
    before = _scrape(url, headers=read)
    restarted = make_server(create_app(settings, Store(settings.database_url))).start()
    again = _scrape(restarted.url, headers=read)
    for name in ("chat_messages", "chat_sessions", "chat_errors"):
        assert again[name] == before[name]
    store.ingest(parse_events([_event("turn", "s1", user_type="free", response_time_ms=90)]))
    after = _scrape(restarted.url, headers=read)
    labels = {"service": "shop", "sender_type": "user", "user_type": "free"}
    assert _value(after["chat_messages"], "chat_messages_total", **labels) == 5
    assert (
        _value(
            after["chat_response_time_seconds"], "chat_response_time_seconds_count", service="shop"
        )
        == 8
    )
    restarted.stop()
    restarted.app.state.chatwatch.store.close()


def test_a_key_is_needed_even_on_loopback_unless_metrics_are_public(
    sqlite_url: str, make_server: type[Any]
) -> None:
    """/metrics wants a read key (an ingest key is 403); metrics_public opens it."""
    closed = Settings(database_url=sqlite_url, _env_file=None)  # type: ignore[call-arg]
    app = create_app(closed)
    server = make_server(app).start()
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    ingest_key = create_key(app.state.chatwatch.store, "ingest")
    ingest = {"Authorization": f"Bearer {ingest_key}"}
    assert httpx.get(f"{server.url}/metrics", headers=ingest).status_code == 403
    read_key = create_key(app.state.chatwatch.store, "read")
    assert "chat_process_threads" in _scrape(
        server.url, headers={"Authorization": f"Bearer {read_key}"}
    )
    public = closed.model_copy(update={"metrics_public": True})
    open_server = make_server(create_app(public)).start()
    assert httpx.get(f"{open_server.url}/metrics").status_code == 200
    server.stop()
    app.state.chatwatch.store.close()
