"""OpenAPI tells the truth: the document describes the ingest batch and every other
request body, each route's probed answers (no key, a key of the wrong scope, an oversized
body, a wrong content type, a malformed body, an unknown id) are all listed, and
schemathesis, fuzzing every operation of it against the real server (a few examples each,
so the run stays short), meets no 5xx, no status the document does not list and no content
type it does not declare."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from fastapi.routing import APIRoute
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    status_code_conformance,
)

from chatwatch.config import Settings
from chatwatch.events import EVENT_TYPES
from chatwatch.server import create_app
from chatwatch.server.body_limit import INGEST_PATHS, MAX_BODY_BYTES
from chatwatch.server.keys import SCOPES, create_key
from live_server import LiveServer

CHECKS = [schemathesis.checks.not_a_server_error, status_code_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Any]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'cw.db'}"
    settings = Settings(database_url=url, alerts_enabled=True, _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings)
    store = app.state.chatwatch.store
    key = create_key(store, "admin")
    server = LiveServer(app).start()
    yield server.url, key, app
    server.stop()
    store.close()


FUZZ = hypothesis.settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)


def test_no_operation_answers_5xx_or_undocumented(served: tuple[str, str, Any]) -> None:
    """Every operation fuzzed with an admin key, valid and invalid requests alike: no 5xx,
    every status and content type documented; failures are gathered and shown together."""
    url, key, _ = served
    headers = {"Authorization": f"Bearer {key}"}
    document = httpx.get(f"{url}/openapi.json", headers=headers, timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    # revoking keys by fuzzed prefixes could revoke the test's own key
    operations = [op for op in operations if op.label != "DELETE /api/v1/keys/{prefix}"]
    assert len(operations) >= 15
    for operation, mode in itertools.product(operations, schemathesis.GenerationMode):

        @FUZZ
        @hypothesis.given(case=operation.as_strategy(mode))
        def fuzz(case: Any) -> None:
            case.call_and_validate(base_url=url, headers=headers, checks=CHECKS)

        try:
            fuzz()
        except hypothesis.errors.Unsatisfiable:  # nothing to make invalid (no parameters)
            continue
        except BaseException as exc:  # schemathesis' FailureGroup is an exception group
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures.append(f"{operation.label} ({mode.value}): {str(exc)[:600]}")
    assert not failures, "\n\n".join(failures)


def test_the_ingest_body_is_the_event_schema(served: tuple[str, str, Any]) -> None:
    """POST /api/v1/events documents a JSON array of the event types, bounded in length,
    and its 413, 415, 422 and 503 answers."""
    _, _, app = served
    op = app.openapi()["paths"]["/api/v1/events"]["post"]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert body["type"] == "array" and body["maxItems"] == 10_000
    mapping = body["items"]["discriminator"]["mapping"]
    assert set(mapping) == set(EVENT_TYPES)
    assert {"202", "400", "401", "403", "413", "415", "422", "503"} <= set(op["responses"])


_BODY_METHODS = {"POST", "PUT", "PATCH"}
_OPEN = {"/healthz", "/readyz", "/monitoring/health"}


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """The app's routes, included routers opened (FastAPI keeps them nested)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif getattr(route, "original_router", None) is not None:
            yield from _api_routes(route.original_router.routes)


def _takes_body(route: APIRoute) -> bool:
    """A body in the signature, or read by hand (the ingest routes bound it themselves)."""
    return route.body_field is not None or route.path in INGEST_PATHS


def test_every_route_with_a_body_documents_it(served: tuple[str, str, Any]) -> None:
    """Each POST/PUT/PATCH route that reads a body documents it (with its content types),
    and a route that reads none (the guide's query-string POST) documents none."""
    _, _, app = served
    paths = app.openapi()["paths"]
    with_body, without = set(), set()
    for route in _api_routes(app.routes):
        if not route.include_in_schema:
            continue
        for method in route.methods & _BODY_METHODS:
            op = paths[route.path][method.lower()]
            if _takes_body(route):
                with_body.add(f"{method} {route.path}")
                assert op.get("requestBody", {}).get("content"), f"{method} {route.path}"
            else:
                without.add(f"{method} {route.path}")
                assert "requestBody" not in op, f"{method} {route.path}"
    expected = {"/api/v1/events", "/v1/traces", "/api/v1/silences", "/api/v1/feedback"}
    assert {f"POST {path}" for path in expected | {"/api/v1/keys"}} <= with_body
    assert "POST /monitoring/chat/metrics" in without
    traces = paths["/v1/traces"]["post"]
    assert set(traces["requestBody"]["content"]) == {"application/x-protobuf", "application/json"}
    # OTLP answers in the export's own encoding
    assert set(traces["responses"]["200"]["content"]) == {
        "application/x-protobuf",
        "application/json",
    }


def _unknown_ids(path: str, op: dict[str, Any]) -> str:
    """The path with each parameter naming nothing stored (an unknown key prefix revokes
    nothing, so even DELETE /api/v1/keys/{prefix} is safe to probe)."""
    for param in op.get("parameters", []):
        if param["in"] == "path":
            integer = param["schema"].get("type") == "integer"
            path = path.replace(f"{{{param['name']}}}", "987654321" if integer else "zz-none")
    return path


def _probes(url: str, keys: dict[str, str], method: str, path: str) -> dict[str, int]:
    """What one route answers: no key, each scope, then (admin) an oversized body, a text
    body, malformed JSON and XML."""
    target = url + path
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    limit = 6 * MAX_BODY_BYTES if path in INGEST_PATHS else MAX_BODY_BYTES  # ingest: 5 MiB
    with httpx.Client(timeout=30) as client:
        answered = {"no key": client.request(method, target).status_code}
        for scope, key in keys.items():
            headers = {"Authorization": f"Bearer {key}"}
            answered[scope] = client.request(method, target, headers=headers).status_code
        bodies = {
            "oversized": ("application/json", b"[" + b" " * limit + b"]"),
            "text": ("text/plain", b"hello"),
            "malformed json": ("application/json", b"{"),
            "xml": ("application/xml", b"<a/>"),
        }
        for name, (ctype, body) in bodies.items():
            headers = {**admin, "Content-Type": ctype}
            answered[name] = client.request(
                method, target, headers=headers, content=body
            ).status_code
    return answered


def test_every_route_documents_what_it_answers(served: tuple[str, str, Any]) -> None:
    """Probed by hand, every operation's answers are among its documented statuses, and the
    ones that must be there are: 401 without a key and 403 for some scope (keyed routes),
    413 past the body limit, 404 for an unknown id, 415 for a non-JSON batch, 422 for a
    malformed JSON body."""
    url, _, app = served
    store = app.state.chatwatch.store
    keys = {scope: create_key(store, scope) for scope in SCOPES}
    problems: list[str] = []
    for path, operations in app.openapi()["paths"].items():
        for method, op in operations.items():
            label = f"{method.upper()} {path}"
            answered = _probes(url, keys, method.upper(), _unknown_ids(path, op))
            documented = set(op["responses"])
            for probe, status in answered.items():
                if str(status) not in documented:
                    problems.append(
                        f"{label}: {probe} -> {status}, documented {sorted(documented)}"
                    )
                if status >= 500:
                    problems.append(f"{label}: {probe} -> {status}")
            must = {413: "oversized"}
            if path not in _OPEN:
                must[401] = "no key"
                if 403 not in {answered[scope] for scope in keys}:
                    problems.append(f"{label}: no scope is refused (403)")
            if "{" in path:
                must[404] = "admin"
            if path in INGEST_PATHS:
                must[415] = "xml"
            if "requestBody" in op:  # OTLP: not an export is a 400
                must[400 if path == "/v1/traces" else 422] = "malformed json"
            for status, probe in must.items():
                if answered[probe] != status:
                    problems.append(f"{label}: {probe} -> {answered[probe]}, expected {status}")
    assert not problems, "\n".join(problems)
