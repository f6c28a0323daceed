"""The ``feedback`` scope: safe in a browser. It posts 👍/👎 (or a rating, a comment) for a
run that exists, rate-limited per run and per address, and is refused (403) elsewhere."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from chatwatch.config import Settings
from chatwatch.metrics import Catalogue
from chatwatch.server import create_app, feedback
from chatwatch.server.keys import create_key
from chatwatch.store import Filters, Store
from chatwatch.store.schema import events


@dataclass
class Served:
    http: httpx.Client
    store: Store
    settings: Settings
    feedback: dict[str, str]
    ingest: dict[str, str]

    def post(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http.post(
            "/api/v1/feedback", json=body, headers=self.feedback if headers is None else headers
        )


@pytest.fixture
def served(sqlite_url: str, make_server: type) -> Iterator[Served]:
    settings = Settings(
        database_url=sqlite_url, alerts_enabled=False, maintenance_interval_s=0, _env_file=None
    )  # type: ignore[call-arg]
    store = Store(sqlite_url)
    live = make_server(create_app(settings, store)).start()
    auth = {
        scope: {"Authorization": f"Bearer {create_key(store, scope)}"}
        for scope in ("feedback", "ingest")
    }
    with httpx.Client(base_url=live.url, timeout=10) as http:
        yield Served(http, store, settings, auth["feedback"], auth["ingest"])
    live.stop()
    store.close()


def _guide_turn(srv: Served) -> str:
    """Guide 003's recording call; its answer names the run."""
    answer = srv.http.post(
        "/monitoring/chat/metrics",
        params={"success": "true", "response_time_ms": 420, "service": "treq", "session_id": "s1"},
        headers=srv.ingest,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["run_id"])


def _sdk_turn(srv: Served, run_id: str) -> None:
    turn = {
        "type": "turn",
        "id": f"e-{run_id}",
        "run_id": run_id,
        "ts": time.time(),
        "service": "sophie",
        "session_id": "s2",
        "response_time_ms": 900,
    }
    assert srv.http.post("/api/v1/events", json=[turn], headers=srv.ingest).status_code == 202


def _stored_feedback(srv: Served) -> list[dict[str, Any]]:
    with srv.store.read() as conn:
        rows = conn.execute(
            select(events.c.service, events.c.session_id, events.c.run_id, events.c.data).where(
                events.c.type == "feedback"
            )
        ).all()
    return [
        {**json.loads(r.data), "service": r.service, "session_id": r.session_id, "run_id": r.run_id}
        for r in rows
    ]


def test_a_feedback_key_posts_a_thumbs_up_for_a_real_run(served: Served) -> None:
    srv = served
    guide_run = _guide_turn(srv)
    _sdk_turn(srv, "run-abc")
    assert srv.post({"run_id": guide_run, "thumbs": "up"}).status_code == 202
    answer = srv.post({"run_id": "run-abc", "rating": 4, "comment": "helpful"})
    assert answer.status_code == 202, answer.text
    stored = sorted(_stored_feedback(srv), key=lambda f: f["service"])
    assert [(f["service"], f["session_id"], f["run_id"]) for f in stored] == [
        ("sophie", "s2", "run-abc"),
        ("treq", "s1", guide_run),
    ]
    assert stored[1]["thumbs"] == "up" and stored[0]["rating"] == 4
    cat = Catalogue(srv.store, srv.settings)
    assert cat.value("thumbs_up_share", cat.reading("1h", Filters(service="treq"))) == 100.0


def test_unknown_runs_and_bad_bodies_are_refused(served: Served) -> None:
    srv = served
    assert srv.post({"run_id": "no-such-run", "thumbs": "up"}).status_code == 404
    run = _guide_turn(srv)
    for body, field in (
        ({"run_id": run}, "thumbs"),  # no signal
        ({"run_id": run, "thumbs": "sideways"}, "thumbs"),
        ({"run_id": run, "rating": 9}, "rating"),
        ({"run_id": run, "thumbs": "up", "user_id": "x"}, "user_id"),  # nothing else
        ({"run_id": "a b", "thumbs": "up"}, "run_id"),
        ({"run_id": run, "thumbs": "up", "comment": "x" * 2001}, "comment"),
    ):
        answer = srv.post(body)
        assert answer.status_code == 422 and field in answer.text, (body, answer.text)
    assert _stored_feedback(srv) == []


def test_a_feedback_key_is_refused_everywhere_else(served: Served) -> None:
    srv = served
    for method, path in (
        ("GET", "/monitoring/metrics"),
        ("GET", "/api/v1/sessions"),
        ("GET", "/metrics"),
        ("POST", "/api/v1/events"),
        ("POST", "/monitoring/chat/metrics?success=true&response_time_ms=1"),
        ("POST", "/v1/traces"),
        ("GET", "/api/v1/keys"),
        ("GET", "/api/v1/alerts"),
    ):
        answer = srv.http.request(method, path, headers=srv.feedback, json=[])
        assert answer.status_code == 403, (path, answer.status_code)
        assert "feedback" in answer.json()["detail"]
    assert srv.post({"run_id": "x", "thumbs": "up"}, headers={}).status_code == 401


def test_feedback_is_rate_limited_per_run_and_per_address(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = served
    run, other = _guide_turn(srv), _guide_turn(srv)
    limit = feedback.PER_RUN[0]
    for _ in range(limit):
        assert srv.post({"run_id": run, "thumbs": "up"}).status_code == 202
    refused = srv.post({"run_id": run, "thumbs": "down"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 3000
    assert srv.post({"run_id": other, "thumbs": "up"}).status_code == 202  # another run may
    assert len(_stored_feedback(srv)) == limit + 1

    # the address has made limit + 2 posts (the refused one counts): one more allowed
    monkeypatch.setattr(feedback, "PER_ADDRESS", (limit + 3, 60.0))
    runs = [_guide_turn(srv) for _ in range(3)]
    answers = [srv.post({"run_id": r, "thumbs": "up"}).status_code for r in runs]
    assert answers == [202, 429, 429]  # the address has used its posts


def test_guessing_run_ids_is_rate_limited_per_address(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feedback, "PER_ADDRESS", (3, 60.0))
    guesses = [served.post({"run_id": f"guess-{i}", "thumbs": "up"}) for i in range(5)]
    answers = [answer.status_code for answer in guesses]
    assert answers == [404, 404, 404, 429, 429]
