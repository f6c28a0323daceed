"""OTLP/gRPC on its own port (``CHATWATCH_OTLP_GRPC_PORT``), for exporters that only speak
gRPC; needs the ``grpc`` extra (``pip install chatwatch[grpc]``).

The same export path as ``POST /v1/traces``: the request's bytes go to
:func:`~chatwatch.integrations.otlp.ingest_export` in a worker thread (no re-encoding),
bounded the same way, with the same keys (``authorization: Bearer <ingest key>`` metadata).
A malformed or oversized export is ``INVALID_ARGUMENT`` (not retried by exporters); a bad key
``UNAUTHENTICATED``, the wrong scope ``PERMISSION_DENIED``; partial success as over HTTP.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from chatwatch.integrations.otlp import BadExport, TooManySpans, ingest_export
from chatwatch.server.auth import key_checker
from chatwatch.server.keys import allows
from chatwatch.server.otlp import mark_active, trace_settings
from chatwatch.server.state import AppState

__all__ = ["grpc_task"]

log = logging.getLogger("chatwatch.server")
_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def _bearer(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key.lower() == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


def _handler(st: AppState) -> Any:
    import grpc

    async def export(body: bytes, context: grpc.aio.ServicerContext) -> bytes:
        token = _bearer(context.invocation_metadata())
        if token is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "an ingest API key is required")
        checker = key_checker(st)
        hit, found = checker.cached(str(token))
        if not hit:
            found = await asyncio.to_thread(checker.check, str(token))
        if found is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid, revoked or expired key")
        elif not allows(found.scope, "ingest"):
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "an ingest key is needed")
        mark_active(st)
        try:
            result = await asyncio.to_thread(
                ingest_export,
                st.store,
                body,
                json_body=False,
                max_spans=st.settings.max_batch_events,
                settings=trace_settings(st),
                max_age_s=st.settings.event_retention_days * 86400.0,
            )
        except (BadExport, TooManySpans) as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc)[:300])
        answer = ExportTraceServiceResponse()
        if result.rejected:
            answer.partial_success.rejected_spans = len(result.rejected)
            answer.partial_success.error_message = result.error_message()
        return bytes(answer.SerializeToString())

    method = grpc.unary_unary_rpc_method_handler(export)  # raw bytes in and out
    return grpc.method_handlers_generic_handler(_SERVICE, {"Export": method})


async def grpc_task(st: AppState) -> None:
    """Serve OTLP/gRPC until cancelled (the server's shutdown)."""
    try:
        import grpc
    except ImportError:
        log.error("chatwatch: CHATWATCH_OTLP_GRPC_PORT is set but grpcio is not installed")
        return
    settings = st.settings
    server = grpc.aio.server(
        options=[("grpc.max_receive_message_length", settings.max_batch_bytes * 8)]
    )
    server.add_generic_rpc_handlers((_handler(st),))
    server.add_insecure_port(f"{settings.otlp_grpc_host}:{settings.otlp_grpc_port}")
    await server.start()
    try:
        await server.wait_for_termination()
    finally:
        await server.stop(grace=2)
