"""OTLP/gRPC on its own port: the real gRPC exporter, with keys, into the same mapping."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

from chatwatch.config import Settings
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from live_server import LiveServer, free_port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, int, Any]]:
    port = free_port()
    settings = Settings(  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path_factory.mktemp('grpc') / 'chatwatch.db'}",
        otlp_grpc_port=port,
        otlp_trace_settle_s=0,
        alerts_enabled=False,
        _env_file=None,
    )
    app = create_app(settings)
    store = app.state.chatwatch.store
    live = LiveServer(app).start()
    yield live, port, store
    live.stop()
    store.close()


def _send(port: int, key: str, service: str) -> SpanExportResult:
    exporter = OTLPSpanExporter(
        endpoint=f"127.0.0.1:{port}",
        insecure=True,
        headers=(("authorization", f"Bearer {key}"),),
        timeout=10,
    )
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    results: list[SpanExportResult] = []

    class Recording(SimpleSpanProcessor):
        def on_end(self, span: Any) -> None:
            results.append(exporter.export((span,)))

    provider.add_span_processor(Recording(exporter))
    tracer = provider.get_tracer("test")
    attrs = {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 10}
    with tracer.start_as_current_span("chat gpt-4o", attributes=attrs):
        pass
    provider.shutdown()
    return results[0]


def _calls(live: LiveServer, read: str, service: str) -> int:
    doc = httpx.get(
        f"{live.url}/monitoring/metrics?window=1h&service={service}",
        headers={"Authorization": f"Bearer {read}"},
    ).json()
    return int(doc["llm"]["total_calls"])


def test_grpc_export_with_an_ingest_key_is_stored(server: Any) -> None:
    """A call exported over gRPC is counted, with its turn; a read key or none is refused."""
    live, port, store = server
    read = create_key(store, "read")
    assert _send(port, create_key(store, "ingest"), "grpc-ok") == SpanExportResult.SUCCESS
    deadline = time.monotonic() + 10
    while _calls(live, read, "grpc-ok") < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _calls(live, read, "grpc-ok") == 1
    assert _send(port, read, "grpc-wrong") == SpanExportResult.FAILURE
    assert _send(port, "cw_ingest_nonsense", "grpc-wrong") == SpanExportResult.FAILURE
    assert _calls(live, read, "grpc-wrong") == 0
