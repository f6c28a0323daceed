"""Bounded cardinality: past a label's cap new values are counted under ``other``, the cap
holds across store instances (replicas, restarts), and nothing counted is lost."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from chatwatch.config import Settings
from chatwatch.dashboard.data import label_notices
from chatwatch.events import Event, parse_events
from chatwatch.metrics import Catalogue
from chatwatch.store import Filters, Store
from chatwatch.store.writer import prepare

NOW = time.time()


def events(*items: dict[str, Any]) -> list[Event]:
    base = {"ts": NOW - 60, "session_id": "s1"}
    return parse_events([{**base, "id": uuid.uuid4().hex, **item} for item in items])


def call(model: str, service: str = "app", **extra: Any) -> dict[str, Any]:
    return {"type": "llm_call", "model": model, "service": service, "latency_ms": 100, **extra}


def models_in_rollups(store: Store) -> dict[str, int]:
    agg = store.aggregate(int(NOW) - 3600, int(NOW) + 60, Filters(), now=NOW)
    return agg.by_dim_model("llm_calls")


def test_models_past_the_cap_fold_into_other(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """The first three models keep their name; the next two are counted under ``other``,
    every call still counted, the fold logged once without the values."""
    store = Store(db_url, label_caps={"model": 3})
    with caplog.at_level(logging.WARNING, "chatwatch.labels"):
        store.ingest(events(*(call(f"m{i}") for i in range(3))))
        store.ingest(events(*(call(f"secret-model-{i}") for i in range(2)), call("m1")))
        store.ingest(events(call("secret-model-9")))
    assert models_in_rollups(store) == {"m0": 1, "m1": 2, "m2": 1, "other": 3}
    warnings = [r for r in caplog.records if r.name == "chatwatch.labels"]
    assert len(warnings) == 1
    assert "model" in warnings[0].getMessage() and "secret" not in warnings[0].getMessage()
    status = {s.label: s for s in store.label_status()}
    assert (status["model"].cap, status["model"].values) == (3, 3)
    # each folded call fed five series (calls, latency bucket, input/output tokens, unpriced)
    assert status["model"].folded == 3 * 5
    assert status["service"].values == 1 and status["service"].folded == 0
    store.close()


def test_cap_holds_across_replicas_and_restarts(db_url: str) -> None:
    """Two stores on one database share the admitted values: together they keep two."""
    a = Store(db_url, label_caps={"service": 2})
    b = Store(db_url, label_caps={"service": 2})
    a.ingest(events(call("m", service="one")))
    b.ingest(events(call("m", service="two")))
    a.ingest(events(call("m", service="three")))  # a's cache knows one only: it asks
    b.ingest(events(call("m", service="one"), call("m", service="four")))
    restarted = Store(db_url, label_caps={"service": 2})
    restarted.ingest(events(call("m", service="two"), call("m", service="five")))
    agg = restarted.aggregate_by(("service",), int(NOW) - 3600, int(NOW) + 60, now=NOW)
    counts = {key[0]: value.n("llm_calls") for key, value in agg.items()}
    assert counts == {"one": 2, "two": 2, "other": 3}
    for store in (a, b, restarted):
        store.close()


def test_sessions_and_histograms_fold_with_their_service(db_url: str) -> None:
    """A folded service's sessions, latency histogram and user activity are under
    ``other`` too, so reads per service never meet more services than the cap."""
    store = Store(db_url, label_caps={"service": 1})
    store.ingest(events(call("m", service="kept", user_id="u1")))
    store.ingest(
        events(
            {"type": "session_started", "service": "late", "session_id": "s9"},
            {
                "type": "turn",
                "service": "late",
                "session_id": "s9",
                "response_time_ms": 10,
                "user_id": "u2",
            },
        )
    )
    with store.read() as conn:
        services = {r[0] for r in conn.execute(text("SELECT DISTINCT service FROM sessions"))}
        hist = {r[0] for r in conn.execute(text("SELECT DISTINCT service FROM rollup_hist"))}
        users = {r[0] for r in conn.execute(text("SELECT DISTINCT service FROM user_activity"))}
        raw = {r[0] for r in conn.execute(text("SELECT DISTINCT service FROM events"))}
    assert services == hist == {"kept", "other"}
    assert users == {"other"}  # the turn's user (LLM calls count no user messages)
    assert raw == {"kept", "late"}  # raw events keep what was sent
    store.close()


def test_dimension_labels_are_capped(db_url: str) -> None:
    """Topics and error types are capped like models: the breakdowns stay bounded."""
    store = Store(db_url, label_caps={"topic": 2, "error_type": 1})
    turns = [
        {
            "type": "turn",
            "response_time_ms": 5,
            "topic": f"t{i}",
            "success": False,
            "error_type": f"E{i}",
        }
        for i in range(4)
    ]
    store.ingest(events(*turns))
    agg = store.aggregate(int(NOW) - 3600, int(NOW) + 60, Filters(), now=NOW)
    assert agg.by_dim("topics") == {"t0": 1, "t1": 1, "other": 2}
    assert agg.by_dim("turns_failed") == {"E0": 1, "other": 3}
    store.close()


def test_deferred_writes_fold_before_the_journal(db_url: str) -> None:
    """The server's group commit journals folded increments: after the fold the
    rollups hold no value past the cap."""
    store = Store(db_url, label_caps={"model": 1})
    batches = [prepare(events(call(f"m{i}")), store_text=False) for i in range(3)]
    store.ingest_prepared(batches, defer=True)
    assert models_in_rollups(store) == {"m0": 1, "other": 2}
    store.close()


def test_a_batch_encoded_before_the_guard_folds_it_is_journalled_folded(db_url: str) -> None:
    """The server encodes each batch's increments for the journal on its request thread,
    before the writer's guard sees them: a batch the guard folds is journalled folded, so
    a process that folds the journal from the database counts no value past the cap."""
    store = Store(db_url, label_caps={"model": 1})
    other = Store(db_url, label_caps={"model": 1})
    try:
        batches = [prepare(events(call(f"m{i}")), store_text=False) for i in range(3)]
        for batch in batches:
            batch.encode_delta()
        store.ingest_prepared(batches, defer=True)
        assert models_in_rollups(other) == {"m0": 1, "other": 2}
    finally:
        other.close()
        store.close()


def test_replicas_admitting_at_once_keep_the_cap_exact(db_url: str) -> None:
    """Four stores (replicas) each sending 20 new services at the same moment, cap 30:
    exactly 30 are admitted (PostgreSQL serialises admissions with an advisory lock)."""
    stores = [Store(db_url, label_caps={"service": 30}) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def send(index: int, store: Store) -> None:
        barrier.wait()
        try:
            for k in range(20):
                store.ingest(events(call("m", service=f"r{index}-s{k}")))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(i, s)) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    agg = stores[0].aggregate_by(("service",), int(NOW) - 3600, int(NOW) + 60, now=NOW)
    counts = {key[0]: value.n("llm_calls") for key, value in agg.items()}
    assert len(counts) == 31 and counts["other"] == 80 - 30
    assert sum(counts.values()) == 80
    assert {s.label: s.values for s in stores[1].label_status()}["service"] == 30
    for store in stores:
        store.close()


def test_dashboard_notice_names_the_folded_label(sqlite_url: str) -> None:
    """The overview carries one notice per label that folded something (none before)."""
    store = Store(sqlite_url, label_caps={"model": 1})
    cat = Catalogue(store, Settings(_env_file=None))  # type: ignore[call-arg]
    store.ingest(events(call("m0")))
    assert label_notices(cat) == []
    store.ingest(events(call("m1"), call("m2")))
    (notice,) = label_notices(cat)
    assert notice.startswith("model keeps its first 1 values") and "'other'" in notice
    store.close()
