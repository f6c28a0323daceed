"""Hand-built spans of each dialect become the right events (GenAI, OpenInference, turns)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from otlp_build import T0, body, span, stored, trace_hex

from chatwatch.integrations.otlp import TraceSettings, flush_pending, ingest_export
from chatwatch.store import Store

NOW = T0 / 1e9 + 60
WAIT = TraceSettings(settle_s=10.0, wait_s=30.0, keep_s=3600.0)


def _ingest(store: Store, spans: list[Any], now: float = NOW, settle: bool = True) -> Any:
    """One export at ``now``; with ``settle``, then the flush that assembles its traces."""
    result = ingest_export(
        store, body(spans), json_body=False, max_spans=10_000, settings=WAIT, now=now
    )
    if settle:
        flush_pending(store, now + WAIT.settle_s, WAIT)
    return result


def _of_type(events: dict[str, dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events.values() if e["type"] == kind]


def test_genai_spans_of_every_version(sqlite_store: Store) -> None:
    """Request model groups, response model kept; old and new token names; cache reads;
    conversation id as session; error.type normalised; embeddings are calls of their kind."""
    new = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.provider.name": "openai",
        "gen_ai.usage.input_tokens": 11,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.usage.cache_read.input_tokens": 4,
        "gen_ai.usage.cache_creation.input_tokens": 2,
        "gen_ai.conversation.id": "conv-1",
    }
    old = {  # and OpenLLMetry's cache names
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.system": "openai",
        "gen_ai.usage.prompt_tokens": 20,
        "gen_ai.usage.completion_tokens": 5,
        "gen_ai.usage.cache_read_input_tokens": 3,
        "gen_ai.usage.cache_creation_input_tokens": 1,
    }
    failed = {
        "gen_ai.request.model": "gpt-4o-mini",
        "error.type": "<class 'openai.InternalServerError'>",
    }
    embed = {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.request.model": "text-embedding-3-small",
        "gen_ai.usage.input_tokens": 5,
    }
    spans = [
        span(1, 1, attrs=new, duration_ms=250),
        span(2, 1, attrs=old),
        span(3, 1, attrs=failed, error=True),
        span(4, 1, attrs={**failed, "error.type": "openai.RateLimitError"}, error=True),
        span(5, 1, attrs=embed),
    ]
    result = _ingest(sqlite_store, spans)
    assert result.rejected == []
    events = stored(sqlite_store)
    calls = {e["run_id"]: e for e in _of_type(events, "llm_call")}
    first = calls[trace_hex(1)]
    assert first["model"] == "gpt-4o"
    assert first["response_model"] == "gpt-4o-2024-08-06"
    assert (first["input_tokens"], first["output_tokens"]) == (11, 7)
    assert first["attributes"] == {"cache_read_input_tokens": 4, "cache_write_input_tokens": 2}
    assert first["provider"] == "openai"
    assert first["session_id"] == "conv-1"
    assert first["latency_ms"] == 250.0
    assert calls[trace_hex(2)]["provider"] == "openai"
    assert (calls[trace_hex(2)]["input_tokens"], calls[trace_hex(2)]["output_tokens"]) == (20, 5)
    assert calls[trace_hex(2)]["attributes"] == {
        "cache_read_input_tokens": 3,
        "cache_write_input_tokens": 1,
    }
    assert calls[trace_hex(3)]["error_type"] == "InternalServerError"
    assert calls[trace_hex(4)]["error_type"] == "RateLimitError"
    assert calls[trace_hex(3)]["success"] is False
    assert calls[trace_hex(5)]["kind"] == "embedding"
    assert first["kind"] == "chat"
    # each bare call is its trace's root: one turn per trace
    turns = {e["run_id"]: e for e in _of_type(events, "turn")}
    assert set(turns) == set(calls)
    assert turns[trace_hex(1)]["session_id"] == "conv-1"
    assert turns[trace_hex(1)]["tokens"] == 18
    assert turns[trace_hex(3)]["success"] is False
    assert turns[trace_hex(3)]["error_type"] == "InternalServerError"


def _oi_trace(trace: int) -> list[Any]:
    """A RAG turn as OpenInference writes it: CHAIN root, RETRIEVER, EMBEDDING and LLM."""
    root = span(
        trace,
        1,
        duration_ms=1500,
        attrs={
            "openinference.span.kind": "CHAIN",
            "session.id": "s-9",
            "user.id": "u-3",
            "metadata": '{"tenant": "acme", "tier": 2}',
            "tag.tags": ["beta", "rag"],
        },
    )
    retriever = span(
        trace,
        2,
        1,
        start_ms=10,
        duration_ms=40,
        attrs={
            "openinference.span.kind": "RETRIEVER",
            "retrieval.documents.0.document.id": "a",
            "retrieval.documents.0.document.score": 0.9,
            "retrieval.documents.1.document.id": "b",
            "retrieval.documents.1.document.score": 0.5,
            "retrieval.documents.2.document.id": "c",
            "retrieval.documents.2.document.score": 0.4,
        },
    )
    embedding = span(
        trace,
        3,
        2,
        start_ms=12,
        duration_ms=8,
        attrs={
            "openinference.span.kind": "EMBEDDING",
            "embedding.model_name": "text-embedding-3-small-2024",
            "embedding.invocation_parameters": '{"model": "text-embedding-3-small"}',
            "llm.token_count.prompt": 6,
            "llm.token_count.total": 6,
        },
    )
    llm = span(
        trace,
        4,
        1,
        start_ms=60,
        duration_ms=900,
        attrs={
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-2024-08-06",
            "llm.invocation_parameters": '{"model": "gpt-4o", "temperature": 0}',
            "llm.provider": "openai",
            "llm.system": "openai",
            "llm.token_count.prompt": 100,
            "llm.token_count.completion": 30,
            "llm.token_count.total": 130,
            "llm.token_count.prompt_details.cache_read": 64,
            "llm.token_count.prompt_details.cache_write": 16,
        },
    )
    return [root, retriever, embedding, llm]


def test_openinference_trace_becomes_a_turn_with_its_calls(sqlite_store: Store) -> None:
    """LLM, EMBEDDING and RETRIEVER spans map; the CHAIN root is the turn; session and user
    of the root reach every event; metadata and tags are kept as attributes."""
    _ingest(sqlite_store, _oi_trace(7))
    events = stored(sqlite_store)
    assert len(events) == 4
    (turn,) = _of_type(events, "turn")
    (search,) = _of_type(events, "rag_search")
    calls = {e["kind"]: e for e in _of_type(events, "llm_call")}
    assert turn["run_id"] == trace_hex(7)
    assert turn["response_time_ms"] == 1500.0
    assert turn["rag_used"] is True and turn["rag_found"] is True
    assert turn["model"] == "gpt-4o" and turn["tokens"] == 130
    assert search["similarity"] == pytest.approx(0.6)
    assert search["top_similarity"] == 0.9 and search["results"] == 3
    assert search["search_time_ms"] == 40.0
    chat = calls["chat"]
    assert (chat["model"], chat["response_model"]) == ("gpt-4o", "gpt-4o-2024-08-06")
    assert (chat["input_tokens"], chat["output_tokens"], chat["provider"]) == (100, 30, "openai")
    assert chat["attributes"] == {"cache_read_input_tokens": 64, "cache_write_input_tokens": 16}
    assert calls["embedding"]["model"] == "text-embedding-3-small"
    assert calls["embedding"]["input_tokens"] == 6
    for e in events.values():
        assert (e["session_id"], e["user_id"], e["run_id"]) == ("s-9", "u-3", trace_hex(7))
    # the root's metadata and tags are not lost on the root's own (context) span: the
    # spans that carry them are mapped with them
    _ingest(
        sqlite_store,
        [
            span(
                8,
                1,
                attrs={
                    "openinference.span.kind": "LLM",
                    "llm.model_name": "gpt-4o",
                    "metadata": '{"tenant": "acme", "tier": 2}',
                    "tag.tags": ["beta", "rag"],
                },
            )
        ],
    )
    (tagged,) = [
        e for e in _of_type(stored(sqlite_store), "llm_call") if e["run_id"] == trace_hex(8)
    ]
    assert tagged["attributes"] == {
        "metadata.tenant": "acme",
        "metadata.tier": 2,
        "tags": "beta,rag",
    }


def test_agent_and_tool_spans_give_shape_and_context(sqlite_store: Store) -> None:
    """An AGENT root is the turn; a TOOL span between it and the LLM span gives the trace
    its user and session without being a call; a GenAI tool or agent operation is no call
    even with a model; ``llm.system`` alone is the provider; a bare total is the input."""
    spans = [
        span(9, 1, duration_ms=3000, attrs={"openinference.span.kind": "AGENT"}),
        span(
            9,
            2,
            1,
            start_ms=5,
            duration_ms=2000,
            attrs={"openinference.span.kind": "TOOL", "user.id": "u-8", "session.id": "s-8"},
        ),
        span(
            9,
            3,
            2,
            start_ms=10,
            duration_ms=900,
            attrs={
                "openinference.span.kind": "LLM",
                "llm.model_name": "claude-3-5-sonnet",
                "llm.system": "anthropic",
                "llm.token_count.total": 40,
            },
        ),
        span(
            9,
            4,
            1,
            start_ms=2100,
            duration_ms=50,
            attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.request.model": "gpt-4o"},
        ),
        span(
            9,
            5,
            1,
            start_ms=2200,
            duration_ms=50,
            attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.request.model": "gpt-4o"},
        ),
    ]
    _ingest(sqlite_store, spans)
    events = stored(sqlite_store)
    (turn,) = _of_type(events, "turn")
    (call,) = _of_type(events, "llm_call")
    assert (turn["run_id"], turn["response_time_ms"], turn["llm_calls"]) == (
        trace_hex(9),
        3000.0,
        1,
    )
    assert (call["model"], call["provider"], call["input_tokens"]) == (
        "claude-3-5-sonnet",
        "anthropic",
        40,
    )
    assert call["output_tokens"] == 0
    for e in (turn, call):
        assert (e["session_id"], e["user_id"]) == ("s-8", "u-8")


def test_openinference_failures_take_the_exception_type(sqlite_store: Store) -> None:
    """A failed LLM span with only an exception event and invocation parameters: the model
    is the requested one, the error type the exception's class name."""
    failed = span(
        1,
        1,
        attrs={
            "openinference.span.kind": "LLM",
            "llm.invocation_parameters": '{"model": "gpt-4o"}',
        },
        error=True,
        exception="openai.InternalServerError",
    )
    _ingest(sqlite_store, [failed])
    (call,) = _of_type(stored(sqlite_store), "llm_call")
    assert (call["model"], call["success"], call["error_type"]) == (
        "gpt-4o",
        False,
        "InternalServerError",
    )


def test_root_failure_by_status_or_http_5xx(sqlite_store: Store) -> None:
    """A root with status ERROR or an HTTP status >= 500 fails its turn; a 404 does not."""
    llm = {"gen_ai.request.model": "gpt-4o"}
    spans = []
    for trace, attrs, error in (
        (1, {}, True),
        (2, {"http.response.status_code": 503}, False),
        (3, {"http.response.status_code": 404}, False),
    ):
        spans += [span(trace, 1, attrs=attrs, error=error), span(trace, 2, 1, attrs=llm)]
    _ingest(sqlite_store, spans)
    turns = {e["run_id"]: e for e in _of_type(stored(sqlite_store), "turn")}
    assert [turns[trace_hex(t)]["success"] for t in (1, 2, 3)] == [False, False, True]


def _events_after(tmp: Path, name: str, exports: list[list[Any]]) -> dict[str, Any]:
    store = Store(f"sqlite:///{tmp / name}.db")
    try:
        for i, spans in enumerate(exports):  # all within the settle time of the root
            _ingest(store, spans, now=NOW + i, settle=False)
        flush_pending(store, NOW + 20, WAIT)
        return stored(store)
    finally:
        store.close()


def test_out_of_order_exports_give_the_same_events(tmp_path: Path) -> None:
    """One trace split over three exports, sent in every order, stores the same events."""
    root, retriever, embedding, llm = _oi_trace(5)
    # the session only on a child span, so the events depend on the trace being assembled
    del root.attributes[:]
    root.attributes.extend(span(5, 1, attrs={"openinference.span.kind": "CHAIN"}).attributes)
    retriever.attributes.extend(span(5, 2, attrs={"session.id": "late-session"}).attributes)
    parts = [[root], [retriever, embedding], [llm]]
    results = [
        _events_after(tmp_path, f"order{i}", list(order))
        for i, order in enumerate(itertools.permutations(parts))
    ]
    assert len(results[0]) == 4
    assert all(r == results[0] for r in results)
    assert {e["session_id"] for e in results[0].values()} == {"late-session"}


def test_a_call_instrumented_twice_counts_once(sqlite_store: Store) -> None:
    """Nested spans of two libraries for one call (and a sibling copy) count once; a second
    call of the same model later in the trace still counts."""
    genai = {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 11}
    oi = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o-2024-08-06",
        "llm.invocation_parameters": '{"model": "gpt-4o"}',
    }
    spans = [
        span(1, 1, duration_ms=2000, attrs={"openinference.span.kind": "CHAIN"}),
        span(1, 2, 1, start_ms=10, duration_ms=500, attrs=genai),  # outer library
        span(1, 3, 2, start_ms=11, duration_ms=498, attrs=oi),  # inner library
        span(1, 4, 1, start_ms=12, duration_ms=497, attrs=genai),  # a sibling copy
        span(1, 5, 1, start_ms=900, duration_ms=300, attrs=genai),  # a second call
    ]
    _ingest(sqlite_store, spans[:3], settle=False)  # duplicates also meet across exports
    _ingest(sqlite_store, spans[3:])
    calls = _of_type(stored(sqlite_store), "llm_call")
    assert sorted(c["id"][-1] for c in calls) == ["2", "5"]
    (turn,) = _of_type(stored(sqlite_store), "turn")
    assert turn["tokens"] == 22


def test_bad_span_is_rejected_alone(sqlite_store: Store) -> None:
    """A NUL in a mapped attribute rejects that span, naming the attribute; a long model
    name is truncated; the other spans are stored."""
    spans = [
        span(1, 1, attrs={"gen_ai.request.model": "gpt\x00-4o"}),
        span(2, 1, attrs={"gen_ai.request.model": "m" * 300}),
        span(3, 1, attrs={"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": -3}),
        span(4, 1, attrs={"gen_ai.request.model": "gpt-4o", "session.id": "a\nb"}),
        span(5, 1, attrs={"gen_ai.request.model": "gpt-4o", "input.value": "two\nlines"}),
    ]
    result = _ingest(sqlite_store, spans)
    assert [r.index for r in result.rejected] == [0, 2, 3]
    message = result.error_message()
    assert "span 0: gen_ai.request.model" in message
    assert "span 2: gen_ai.usage.input_tokens" in message
    assert "span 3: session.id" in message
    calls = {e["run_id"]: e for e in _of_type(stored(sqlite_store), "llm_call")}
    assert set(calls) == {trace_hex(2), trace_hex(5)}
    assert calls[trace_hex(2)]["model"] == "m" * 128


def test_calls_wait_for_their_root_then_go_alone(sqlite_store: Store) -> None:
    """Calls wait for their root (settle time after it); with no root they are stored
    after the wait, without a turn; a late span of an assembled trace is stored at once."""
    llm = {"gen_ai.request.model": "gpt-4o"}
    _ingest(sqlite_store, [span(1, 2, 1, attrs=llm)], settle=False)
    assert stored(sqlite_store) == {}
    assert flush_pending(sqlite_store, NOW + 29, WAIT) == 0
    assert flush_pending(sqlite_store, NOW + 31, WAIT) == 1
    assert [e["type"] for e in stored(sqlite_store).values()] == ["llm_call"]
    _ingest(sqlite_store, [span(2, 1), span(2, 2, 1, attrs=llm)], settle=False)
    assert flush_pending(sqlite_store, NOW + 9, WAIT) == 0  # the root has not settled
    assert flush_pending(sqlite_store, NOW + 10, WAIT) == 2  # its call and turn
    _ingest(sqlite_store, [span(2, 3, 1, start_ms=500, attrs=llm)], now=NOW + 50, settle=False)
    assert len(stored(sqlite_store)) == 4  # the late call, stored at once


def test_retried_export_changes_nothing(store: Store) -> None:
    """The same export twice (SQLite and PostgreSQL): every event once."""
    spans = _oi_trace(3)
    _ingest(store, spans)
    first = stored(store)
    _ingest(store, spans)
    assert stored(store) == first and len(first) == 4


def test_times_and_labels_outside_the_schema_reject_their_span(sqlite_store: Store) -> None:
    """A span dated out of the event retention (or ahead of now), or a model the label rules
    refuse, is rejected alone, named; the others are stored."""
    llm = {"gen_ai.request.model": "gpt-4o"}
    now = T0 / 1e9 + 3600
    spans = [
        span(1, 1, attrs=llm),
        span(2, 1, start_ms=-40 * 86_400_000, attrs=llm),  # 40 days before T0
        span(3, 1, start_ms=3 * 3_600_000, attrs=llm),  # two hours ahead of now
        span(4, 1, attrs={"gen_ai.request.model": "<a href='x'>gpt</a>"}),
    ]
    result = ingest_export(
        sqlite_store,
        body(spans),
        json_body=False,
        max_spans=100,
        settings=WAIT,
        now=now,
        max_age_s=30 * 86400.0,
    )
    reasons = {r.index: (r.field, r.reason) for r in result.rejected}
    assert set(reasons) == {1, 2, 3}
    assert reasons[1][0] == reasons[2][0] == "startTimeUnixNano"
    assert "event retention" in reasons[1][1]
    assert reasons[3] == ("model", "may hold only letters, digits, space and _ . : - / @ +")
    flush_pending(sqlite_store, now + 60, WAIT)
    calls = _of_type(stored(sqlite_store), "llm_call")
    assert [c["run_id"] for c in calls] == [trace_hex(1)]


def test_a_root_assembled_before_its_calls_still_makes_the_turn(sqlite_store: Store) -> None:
    """A root alone (its calls exported later, past the settle time) makes no turn at first;
    the first call to come stores the call and the turn, once."""
    llm = {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 9}
    _ingest(sqlite_store, [span(1, 1, attrs={"session.id": "s-1"})])
    assert stored(sqlite_store) == {}
    _ingest(sqlite_store, [span(1, 2, 1, attrs=llm)], now=NOW + 60)
    _ingest(sqlite_store, [span(1, 3, 1, start_ms=300, attrs=llm)], now=NOW + 70)
    events = stored(sqlite_store)
    (turn,) = _of_type(events, "turn")
    assert (turn["session_id"], turn["tokens"]) == ("s-1", 9)
    assert len(_of_type(events, "llm_call")) == 2


def test_models_past_their_cap_fold_into_other(tmp_path: Path) -> None:
    """OTLP calls go through the same label caps as the SDK's: the third model is 'other'."""
    store = Store(f"sqlite:///{tmp_path / 'caps.db'}", label_caps={"model": 2})
    try:
        spans = [span(i, 1, attrs={"gen_ai.request.model": f"m{i}"}) for i in (1, 2, 3)]
        _ingest(store, spans)
        now = NOW + 60
        totals = store.aggregate(int(T0 / 1e9) - 60, int(now), series=["llm_calls"], now=now)
        assert totals.n("llm_calls") == 3
        assert totals.n("llm_calls", model="other") == 1
    finally:
        store.close()
