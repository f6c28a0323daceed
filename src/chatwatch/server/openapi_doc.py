"""The OpenAPI document, made to tell the truth: the ingest batch's request body (the
event schema itself) and every status each route can answer, with its content type.

FastAPI documents what it sees in a route's signature; the ingest route reads its body
by hand (to bound it before parsing), and the auth dependency's 401/403, the database's
503 and a path's 404 are raised, not declared. They are added here, once, for every
route, so a generated client or a fuzzer (schemathesis, in the tests) reaches the whole
surface and meets no undocumented answer.
"""

from __future__ import annotations

import typing
import warnings
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import PydanticJsonSchemaWarning

from chatwatch.events import event_list_adapter
from chatwatch.export import ExportFormat, media_type
from chatwatch.server.body_limit import INGEST_PATHS, MAX_BODY_BYTES

__all__ = ["INGEST_RESPONSES", "install"]

_ERROR = {"$ref": "#/components/schemas/Error"}
_JSON_ERROR = {"application/json": {"schema": _ERROR}}
_EXPORT = "/api/chat/analytics/export/"  # answers in the format asked for
_OPEN = {"/healthz", "/readyz", "/monitoring/health"}  # no key, no database error

INGEST_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "every event committed (duplicates of stored ids counted, not stored)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}},
    },
    400: {"description": "the body is not valid gzip", "content": _JSON_ERROR},
    413: {
        "description": "more bytes (also once decompressed) or events than the limits",
        "content": _JSON_ERROR,
    },
    415: {"description": "a Content-Type other than application/json", "content": _JSON_ERROR},
    422: {
        "description": "events refused: the first 100 problems (index, field, message) and "
        "errors_total; nothing stored",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Invalid"}}},
    },
}

_COMMON: dict[str, dict[str, Any]] = {
    "400": {"description": "a Host header not in CHATWATCH_ALLOWED_HOSTS", "content": _JSON_ERROR},
    "401": {"description": "no API key, or not a valid one", "content": _JSON_ERROR},
    "403": {"description": "a valid key of the wrong scope", "content": _JSON_ERROR},
    "503": {
        "description": "the database cannot be reached or written; retry after Retry-After",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": _JSON_ERROR,
    },
}

# every route but ingest (which has its own, tied to the batch limit): server/body_limit.py
_413 = {
    "description": f"a request body over {MAX_BODY_BYTES} bytes (declared or streamed)",
    "content": _JSON_ERROR,
}

# statuses a route raises by hand, beyond the common ones
_404 = {"description": "no run with that run_id", "content": _JSON_ERROR}
_409 = {"description": "the id is used by several services: name one", "content": _JSON_ERROR}
_429 = {
    "description": "too many requests; retry after Retry-After",
    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    "content": _JSON_ERROR,
}
_EXTRA: dict[str, dict[str, dict[str, Any]]] = {
    "/api/v1/sessions/{session_id}": {"409": _409},
    "/api/v1/feedback": {"404": _404, "429": _429},
    "/api/v1/keys/{prefix}": {
        "409": {"description": "the prefix names several keys", "content": _JSON_ERROR}
    },
}


_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "properties": {"detail": {"anyOf": [{"type": "string"}, {"type": "array"}]}},
    },
    "Accepted": {
        "type": "object",
        "properties": {"accepted": {"type": "integer"}, "duplicates": {"type": "integer"}},
        "required": ["accepted", "duplicates"],
    },
    "Invalid": {
        "type": "object",
        "properties": {
            "detail": {
                "type": "array",
                "maxItems": 100,
                "items": {
                    "type": "object",
                    "properties": {
                        "index": {"type": ["integer", "null"]},
                        "field": {"type": ["string", "null"]},
                        "loc": {"type": "array"},
                        "msg": {"type": "string"},
                    },
                },
            },
            "errors_total": {"type": "integer"},
        },
    },
}


def _events_schema() -> dict[str, Any]:
    with warnings.catch_warnings():  # the shared empty ``attributes`` default is no JSON
        warnings.simplefilter("ignore", PydanticJsonSchemaWarning)
        return event_list_adapter.json_schema(ref_template="#/components/schemas/{model}")


def _events_body(max_events: int) -> dict[str, Any]:
    schema = _events_schema()
    schema.pop("$defs", None)
    schema["maxItems"] = max_events
    return {
        "required": True,
        "description": "A JSON array of events (docs/events.md); `Content-Encoding: gzip` "
        "accepted. Answered 202 only after the batch is committed.",
        "content": {"application/json": {"schema": schema}},
    }


def _event_schemas() -> dict[str, Any]:
    defs: dict[str, Any] = _events_schema().get("$defs", {})
    return defs


def _complete(doc: dict[str, Any], max_events: int) -> dict[str, Any]:
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(_event_schemas())
    schemas.update(_SCHEMAS)
    for path, operations in doc.get("paths", {}).items():
        for method, op in operations.items():
            responses = op.setdefault("responses", {})
            if path not in _OPEN:
                for status, response in _COMMON.items():
                    responses.setdefault(status, response)
            for status, response in _EXTRA.get(path, {}).items():
                responses.setdefault(status, response)
            if path not in INGEST_PATHS:
                responses.setdefault("413", _413)
            if "{" in path:
                responses.setdefault("404", {"description": "not found", "content": _JSON_ERROR})
            if path == "/api/v1/events" and method == "post":
                op["requestBody"] = _events_body(max_events)
            if path == _EXPORT and "200" in responses:
                formats = typing.get_args(ExportFormat)
                responses["200"]["content"] = {media_type(f): {} for f in formats}
    return doc


def install(app: FastAPI, max_events: int) -> None:
    """Make ``app.openapi()`` (and ``/openapi.json``) the completed document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title, version=app.version, routes=app.routes, description=None
            )
            app.openapi_schema = _complete(doc, max_events)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
