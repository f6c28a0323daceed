"""The demo traffic looks like the guides' assistants, and every call is a valid event."""

from __future__ import annotations

import random
import statistics
from collections import Counter
from pathlib import Path

import pytest

from chatwatch.config import Settings
from chatwatch.demo.history import Stream, backfill
from chatwatch.demo.traffic import MODELS, Call, Traffic, to_event
from chatwatch.events import parse_events
from chatwatch.metrics import Catalogue
from chatwatch.sdk import CaptureTransport, Client
from chatwatch.store import Store

START = 1_790_000_000.0  # a fixed instant, so the daily curve is the same every run
HOUR = 3600.0


@pytest.fixture(scope="module")
def calls() -> list[Call]:
    traffic = Traffic(random.Random(42), lambda: START, rate=3.0, start=START)
    return [call for batch in traffic.run(START + HOUR) for call in batch]


def _share(values: list[bool]) -> float:
    return sum(values) / len(values)


def test_models_follow_the_60_30_10_split(calls: list[Call]) -> None:
    """8B gets about 60 % of LLM calls, 70B about 30 %, GLM-4 about 10 %."""
    models = Counter(c.kwargs["model"] for c in calls if c.method == "llm_call")
    total = sum(models.values())
    assert total > 2000
    for model, (share, _, _) in MODELS.items():
        assert models[model] / total == pytest.approx(share, abs=0.03)


def test_turns_have_cache_hits_rag_and_a_few_errors(calls: list[Call]) -> None:
    """A third of turns come from the cache, most use RAG, a few per cent fail."""
    turns = [c.kwargs for c in calls if c.method == "record_turn"]
    assert _share([t.get("cached", False) for t in turns]) == pytest.approx(0.33, abs=0.04)
    fresh = [t for t in turns if not t.get("cached")]
    assert _share([t["rag_used"] for t in fresh]) == pytest.approx(0.85, abs=0.04)
    assert 0.01 < _share([t.get("success", True) is False for t in turns]) < 0.06
    assert len({t["topic"] for t in turns}) >= 6


def test_rag_similarity_sits_around_0_6_to_0_7(calls: list[Call]) -> None:
    """Searches that find something score a mean similarity between 0.6 and 0.7."""
    scores = [c.kwargs["similarity"] for c in calls if "similarity" in c.kwargs]
    assert 0.6 <= statistics.fmean(scores) <= 0.7
    misses = [c for c in calls if c.method == "rag_search" and c.kwargs["results"] == 0]
    assert misses


def test_sessions_reconnect_escalate_and_rate(calls: list[Call]) -> None:
    """WebSocket sessions reconnect now and then; some escalate; ratings are mostly good."""
    methods = Counter(c.method for c in calls)
    sessions = methods["session_started"]
    assert sessions > 200
    assert 0.01 < methods["reconnect"] / sessions < 0.15
    assert 0.01 < methods["escalation"] / sessions < 0.2
    ratings = [c.kwargs["rating"] for c in calls if "rating" in c.kwargs]
    assert 3.5 < statistics.fmean(ratings) < 4.8


def test_calls_come_out_in_time_order_and_as_valid_events(calls: list[Call]) -> None:
    """Every call maps to an event the schema accepts, stamped with the call's time."""
    assert [c.at for c in calls] == sorted(c.at for c in calls)
    assert calls[-1].at <= START + HOUR
    events = parse_events([to_event(c, f"e{i}", "sophie") for i, c in enumerate(calls)])
    assert {e.type for e in events} >= {"turn", "llm_call", "rag_search", "connection"}


def test_every_call_is_an_sdk_client_method(calls: list[Call]) -> None:
    """The live generator calls the SDK with these arguments: none of them is refused."""
    capture = CaptureTransport()
    client = Client(transport=capture, service="treq", flush_interval=0.05)
    sample = {c.method: c for c in calls}
    try:
        ids = [getattr(client, c.method)(**c.kwargs) for c in sample.values()]
        assert client.flush(5)
    finally:
        client.close()
    assert all(ids)
    assert len(parse_events(capture.events)) == len(sample)


def test_backfill_stores_the_history_for_the_catalogue(tmp_path: Path) -> None:
    """The backfill ingests every due call, and the catalogue reads it back."""
    now = START

    def traffic() -> Traffic:
        return Traffic(random.Random(1), lambda: now, 0.5, start=now - HOUR)

    due = [c for batch in traffic().run(now) for c in batch]
    store = Store(f"sqlite:///{tmp_path / 'demo.db'}")
    try:
        stored = backfill(store, [Stream("sophie", traffic())], now - HOUR, now, batch_size=500)
        assert stored == len(due)
        catalogue = Catalogue(store, Settings(_env_file=None))  # type: ignore[call-arg]
        reading = catalogue.reading("all")
        turns = sum(1 for c in due if c.method == "record_turn")
        assert catalogue.value("total_requests", reading) == turns
        llm = sum(1 for c in due if c.method == "llm_call")
        assert catalogue.value("llm_calls", reading) == llm
    finally:
        store.close()
