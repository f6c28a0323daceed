"""OTLP/HTTP GenAI spans become llm_call events."""

from __future__ import annotations

import time

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from chatwatch.server.keys import create_key
from live_server import bearer


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def _export(now_ns: int) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(_kv("service.name", "treq"))
    spans = rs.scope_spans.add().spans
    chat = spans.add()
    chat.trace_id = bytes(range(16))
    chat.span_id = bytes(range(8))
    chat.name = "chat llama-3.3-70b-versatile"
    chat.start_time_unix_nano = now_ns
    chat.end_time_unix_nano = now_ns + 1_250_000_000
    chat.attributes.extend(
        [
            _kv("gen_ai.operation.name", "chat"),
            _kv("gen_ai.request.model", "llama-3.3-70b-versatile"),
            _kv("gen_ai.system", "groq"),
            _kv("gen_ai.usage.input_tokens", 300),
            _kv("gen_ai.usage.output_tokens", 120),
            _kv("session.id", "s-42"),
        ]
    )
    failed = spans.add()
    failed.CopyFrom(chat)
    failed.span_id = bytes(range(1, 9))
    failed.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR))
    failed.attributes.append(_kv("error.type", "RateLimitError"))
    embed = spans.add()
    embed.CopyFrom(chat)
    embed.span_id = bytes(range(2, 10))
    del embed.attributes[:]
    embed.attributes.extend(
        [
            _kv("gen_ai.operation.name", "embeddings"),
            _kv("gen_ai.request.model", "text-embedding-3-small"),
        ]
    )
    plain = spans.add()
    plain.CopyFrom(chat)
    plain.span_id = bytes(range(3, 11))
    del plain.attributes[:]
    return req


def test_protobuf_export_records_model_calls_once(live) -> None:
    """Chat spans (not embeddings, not plain spans) count once, even if the export is retried."""
    store = live.app.state.chatwatch.store
    read = bearer(store, "read")
    key = create_key(store, "ingest")
    body = _export(time.time_ns()).SerializeToString()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-protobuf"}
    for _ in range(2):
        response = httpx.post(f"{live.url}/v1/traces", content=body, headers=headers)
        assert response.status_code == 200
    llm = httpx.get(f"{live.url}/monitoring/metrics?window=1h", headers=read).json()["llm"]
    assert llm["total_calls"] == 2
    assert llm["total_tokens"] == 2 * 420
    assert llm["avg_latency_ms"] == 1250.0
    assert llm["model_llama_3_3_70b_versatile_calls"] == 2
    catalogue = httpx.get(f"{live.url}/api/v1/metrics?window=1h", headers=read).json()
    assert catalogue["metrics"]["llm_failed_calls"]["value"] == 1


def test_bad_exports_are_refused(live) -> None:
    """No key is 401; a body that is not OTLP is 400 and stores nothing."""
    store = live.app.state.chatwatch.store
    read = bearer(store, "read")
    assert httpx.post(f"{live.url}/v1/traces", content=b"x").status_code == 401
    key = create_key(store, "ingest")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-protobuf"}
    bad = httpx.post(f"{live.url}/v1/traces", content=b"\xff\xff\xff", headers=headers)
    assert bad.status_code == 400
    json_headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    assert (
        httpx.post(f"{live.url}/v1/traces", content=b"[1]", headers=json_headers).status_code == 400
    )
    llm = httpx.get(f"{live.url}/monitoring/metrics?window=1h", headers=read).json()["llm"]
    assert llm["total_calls"] == 0
