"""Run in a subprocess by test_otlp_instrumentations.py: one or more real OpenAI
instrumentations, a real OTLP/HTTP exporter set up from the OTEL_* environment (endpoint,
``Authorization`` header, gzip), and a fixed workload against the fake OpenAI server.

Usage: drive_openai.py LIBRARY[,LIBRARY] FAKE_OPENAI_URL SERVICE
"""

from __future__ import annotations

import contextlib
import sys

import openai
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def _instrument(name: str, provider: TracerProvider) -> None:
    if name == "openai-v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    elif name == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor  # type: ignore[no-redef]
    else:
        from openinference.instrumentation.openai import OpenAIInstrumentor  # type: ignore[no-redef]
    OpenAIInstrumentor().instrument(tracer_provider=provider)


def _chat(client: openai.OpenAI, model: str, **kw: object) -> None:
    messages = [{"role": "user", "content": "hi"}]
    result = client.chat.completions.create(model=model, messages=messages, **kw)  # type: ignore[call-overload]
    if kw.get("stream"):
        for _ in result:
            pass


def workload(client: openai.OpenAI, tracer: trace.Tracer) -> None:
    """Three turns with a root span (two sessions) and two bare calls; see the test."""
    with tracer.start_as_current_span("turn", attributes={"session.id": "sess-a"}):
        _chat(client, "gpt-4o")
        _chat(client, "gpt-4o", stream=True, stream_options={"include_usage": True})
    with tracer.start_as_current_span("turn", attributes={"session.id": "sess-a"}):
        client.embeddings.create(model="text-embedding-3-small", input="hi")
        _chat(client, "gpt-4o-mini")
    try:
        with tracer.start_as_current_span("turn", attributes={"session.id": "sess-b"}):
            _chat(client, "fail-500")
    except openai.InternalServerError:
        pass
    _chat(client, "gpt-4o-mini", stream=True)  # a bare call, streamed without usage
    with contextlib.suppress(openai.RateLimitError):
        _chat(client, "fail-429")


def main() -> None:
    libraries, url, service = sys.argv[1].split(","), sys.argv[2], sys.argv[3]
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    for name in libraries:
        _instrument(name, provider)
    client = openai.OpenAI(base_url=url, api_key="sk-test", max_retries=0)
    workload(client, provider.get_tracer("app"))
    provider.shutdown()  # flushes the exporter


if __name__ == "__main__":
    main()
