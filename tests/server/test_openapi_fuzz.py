"""OpenAPI tells the truth: the document describes the ingest batch, and schemathesis,
fuzzing every operation of it against the real server (a few examples each, so the run
stays short), meets no 5xx, no status the document does not list and no content type it
does not declare."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    status_code_conformance,
)

from chatwatch.config import Settings
from chatwatch.events import EVENT_TYPES
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
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
