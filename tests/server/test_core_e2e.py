"""End to end: the SDK sends a known workload over HTTP to the real server, and every
number of guide 003's ``/monitoring/metrics`` and ``/monitoring/stats/summary`` equals the
one computed here from the workload itself, on SQLite and on PostgreSQL.

Times, similarities and latencies are multiples of powers of two, so sums are exact in
any order and the comparison can be ``==`` after the guide's rounding.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
import time
import types
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from statistics import fmean
from typing import Any

import httpx
import pytest

from chatwatch.config import Settings
from chatwatch.sdk import Client
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from live_server import free_port

MODELS = ("llama-3.1-8b-instant", "llama-3.3-70b-versatile", "glm-4")
MODEL_KEYS = {
    "llama-3.1-8b-instant": "model_llama_3_1_8b_instant_calls",
    "llama-3.3-70b-versatile": "model_llama_3_3_70b_versatile_calls",
    "glm-4": "model_glm_4_calls",
}
SIMILARITIES = (0.5, 0.5625, 0.625, 0.6875, 0.75, 0.875)


class LLMError(Exception):
    """What the app's LLM client raises; the turn must record it and let it propagate."""


@dataclass(frozen=True)
class Search:
    similarity: float | None
    results: int
    time_ms: float
    cache_hit: bool


@dataclass(frozen=True)
class LLM:
    model: str
    input_tokens: int
    output_tokens: int
    latency_ms: float
    ok: bool


@dataclass(frozen=True)
class Turn:
    """One answered message as the app handles it."""

    service: str
    session: str
    rt_ms: float
    cached: bool
    search: Search | None
    llm: LLM | None
    fails: bool
    # "scope" (client.turn), "record" (record_turn) or "guide" (guide 003's POST, which
    # records the turn's totals only: no llm_call or rag_search events)
    via: str

    @property
    def rag_used(self) -> bool:
        return self.search is not None

    @property
    def rag_found(self) -> bool:
        return self.search is not None and self.search.results > 0

    @property
    def tokens(self) -> int | None:
        return None if self.llm is None else self.llm.input_tokens + self.llm.output_tokens


def make_workload(seed: int, n: int) -> list[Turn]:
    rng = random.Random(seed)
    turns = []
    for i in range(n):
        service = "sophie" if rng.random() < 0.6 else "treq"
        cached = rng.random() < 1 / 3
        search = llm = None
        if not cached and rng.random() < 0.8:
            found = rng.random() < 0.8
            search = Search(
                rng.choice(SIMILARITIES) if found else None,
                rng.randint(1, 5) if found else 0,
                rng.randint(4, 800) / 4,
                rng.random() < 0.35,
            )
        if not cached:
            ok = rng.random() > 0.1
            llm = LLM(
                rng.choices(MODELS, (6, 3, 1))[0],
                rng.randint(50, 1500) if ok else 0,
                rng.randint(10, 400) if ok else 0,
                rng.randint(200, 6000) / 2,
                ok,
            )
        fails = (llm is not None and not llm.ok) or rng.random() < 0.04
        via = rng.choices(("scope", "record", "guide"), (8, 1, 1))[0]
        turns.append(
            Turn(
                service,
                f"{service}-s{i % 7}",
                rng.randint(1, 80) * 125.0,
                cached,
                search,
                llm,
                fails,
                via,
            )
        )
    return turns


class FakeClock:
    """perf_counter for the SDK's turn timing, advanced by the workload."""

    def __init__(self) -> None:
        self.now = 1024.0

    def perf_counter(self) -> float:
        return self.now


def send(client: Client, turn: Turn, clock: FakeClock, http: httpx.Client, ingest_key: str) -> None:
    """Do what the app would do for ``turn``, through the SDK (or guide 003's POST)."""
    if turn.via == "guide":
        params: dict[str, Any] = {
            "success": str(not turn.fails).lower(),
            "response_time_ms": turn.rt_ms,
            "rag_used": str(turn.rag_used).lower(),
            "rag_found": str(turn.rag_found).lower(),
            "service": turn.service,
            "cached": str(turn.cached).lower(),
        }
        if turn.tokens is not None:
            params["llm_tokens"] = turn.tokens
        auth = {"Authorization": f"Bearer {ingest_key}"}
        http.post("/monitoring/chat/metrics", params=params, headers=auth).raise_for_status()
        return
    if turn.via == "record":
        run = client.record_turn(
            turn.rt_ms,
            not turn.fails,
            error_type="LLMError" if turn.fails else None,
            cached=turn.cached,
            tokens=turn.tokens,
            rag_used=turn.rag_used,
            rag_found=turn.rag_found,
            model=turn.llm.model if turn.llm else None,
            session_id=turn.session,
            llm_calls=int(turn.llm is not None),
            rag_searches=int(turn.search is not None),
        )
        _inner_events(client, turn, run)
        return
    try:
        with client.turn(session_id=turn.session, user_type="customer", topic="billing") as t:
            t.cache_lookup(hit=turn.cached)
            if turn.search is not None:
                s = turn.search
                t.rag_search(s.similarity, None, s.results, s.time_ms, cache_hit=s.cache_hit)
            if turn.llm is not None:
                c = turn.llm
                t.llm_call(
                    c.model,
                    c.input_tokens,
                    c.output_tokens,
                    c.latency_ms,
                    success=c.ok,
                    error_type=None if c.ok else "RateLimitError",
                )
            clock.now += turn.rt_ms / 1000
            if turn.fails:
                raise LLMError("model unavailable")
            t.feedback(rating=4)
    except LLMError:
        pass


def _inner_events(client: Client, turn: Turn, run: str) -> None:
    if turn.search is not None:
        s = turn.search
        client.rag_search(
            s.similarity,
            None,
            s.results,
            s.time_ms,
            cache_hit=s.cache_hit,
            session_id=turn.session,
            run_id=run,
        )
    if turn.llm is not None:
        c = turn.llm
        client.llm_call(
            c.model,
            c.input_tokens,
            c.output_tokens,
            c.latency_ms,
            success=c.ok,
            session_id=turn.session,
            run_id=run,
        )


# -- the expected documents, from the workload alone ------------------------------------


def _avg(values: list[float], digits: int = 2) -> float:
    return round(fmean(values), digits) if values else 0.0


def _pct(part: int, whole: int) -> float:
    return round(part / whole * 100, 2) if whole else 0.0


def expected(turns: list[Turn], aliases: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Guide 003's sections for ``turns``; per-model keys from ``aliases`` and models seen."""
    failed = sum(t.fails for t in turns)
    rag_used = sum(t.rag_used for t in turns)
    found = sum(t.rag_found for t in turns)
    searches = [t.search for t in turns if t.search is not None and t.via != "guide"]
    calls = [t.llm for t in turns if t.llm is not None and t.via != "guide"]
    # guide 003's POST says tokens and rag_used only: they count in the LLM and RAG sections
    guide = [t for t in turns if t.via == "guide"]
    tokens = sum(c.input_tokens + c.output_tokens for c in calls) + sum(
        t.tokens or 0 for t in guide
    )
    bare_searches = sum(t.rag_used or t.rag_found for t in guide)
    models = Counter(c.model for c in calls)
    avg_rt = _avg([t.rt_ms for t in turns])
    avg_latency = _avg([c.latency_ms for c in calls])
    similarity = _avg([s.similarity for s in searches if s.similarity is not None], 3)
    named = {model: alias for alias, model in (aliases or {}).items()}
    by_model = {f"model_{alias}_calls": 0 for alias in aliases or {}}
    for model, n in models.items():
        key = f"model_{named[model]}_calls" if model in named else MODEL_KEYS[model]
        by_model[key] = by_model.get(key, 0) + n
    return {
        "chat": {
            "total_requests": len(turns),
            "successful_requests": len(turns) - failed,
            "failed_requests": failed,
            "client_errors": 0,
            "avg_response_time_ms": avg_rt,
            "rag_queries": rag_used,
            "rag_no_results": rag_used - found,
            "llm_calls": len(calls),
            "llm_tokens_used": sum(t.tokens or 0 for t in turns),
        },
        "rag": {
            "total_searches": len(searches) + bare_searches,
            "avg_similarity_score": similarity,
            "avg_search_time_ms": _avg([s.time_ms for s in searches]),
            "cache_hits": sum(s.cache_hit for s in searches),
            "cache_misses": sum(not s.cache_hit for s in searches) + bare_searches,
        },
        "llm": {
            "total_calls": len(calls),
            "total_tokens": tokens,
            "avg_latency_ms": avg_latency,
            **by_model,
        },
        "performance": {
            "error_rate": _pct(failed, len(turns)),
            "avg_response_time_ms": avg_rt,
            "rag_success_rate": _pct(found, rag_used),
        },
        "summary": {
            "total_requests": len(turns),
            "success_rate_percent": _pct(len(turns) - failed, len(turns)),
            "avg_response_time_ms": avg_rt,
            "rag_avg_similarity": similarity,
            "llm_total_tokens": tokens,
            "llm_avg_latency_ms": avg_latency,
        },
    }


# -- the server, its keys, and clients ---------------------------------------------------


@dataclass
class Served:
    url: str
    ingest_key: str
    read_key: str
    app: Any
    http: httpx.Client

    def get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.read_key}"}
        response = self.http.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def post(self, body: bytes | list[dict[str, Any]], **headers: str) -> httpx.Response:
        headers.setdefault("Authorization", f"Bearer {self.ingest_key}")
        if isinstance(body, list):
            return self.http.post("/api/v1/events", json=body, headers=headers)
        headers.setdefault("Content-Type", "application/json")
        return self.http.post("/api/v1/events", content=body, headers=headers)

    def stored_events(self) -> int:
        with self.app.state.chatwatch.store.read() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM events").scalar_one())


@pytest.fixture
def serve(make_server: Any) -> Iterator[Callable[..., Served]]:
    """Start the real server over a database URL with settings overrides; ``port`` to delay."""
    made: list[Served] = []
    servers: list[Any] = []

    def start(
        db_url: str, *, port: int | None = None, listen: bool = True, **overrides: Any
    ) -> Served:
        overrides.setdefault("ingest_processes", 1)  # as served by default: a worker validates
        settings = Settings(database_url=db_url, _env_file=None, **overrides)  # type: ignore[call-arg]
        app = create_app(settings)
        store = app.state.chatwatch.store
        server = make_server(app, port=port)
        servers.append(server)
        if listen:
            server.start()
        http = httpx.Client(base_url=server.url, timeout=10)
        keys = create_key(store, "ingest"), create_key(store, "read")
        made.append(Served(server.url, *keys, app, http))
        return made[-1]

    yield start
    for served, server in zip(made, servers, strict=True):
        served.http.close()
        server.stop()  # before the store closes: shutting down folds the rollup journal
        served.app.state.chatwatch.store.close()


@pytest.fixture
def clients() -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(url: str, key: str, service: str = "default") -> Client:
        client = Client(
            url, key, service=service, flush_interval=0.05, backoff_base=0.01, max_backoff=0.2
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close(timeout=2)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The SDK's turn timer reads this clock, so response times are the workload's own."""
    import chatwatch.sdk.turn as turn_module

    fake = FakeClock()
    timer = types.SimpleNamespace(time=time.time, perf_counter=fake.perf_counter)
    monkeypatch.setattr(turn_module, "time", timer)
    return fake


def run_workload(
    srv: Served, make_client: Callable[..., Client], turns: list[Turn], clock: FakeClock
) -> None:
    by_service = {t.service: make_client(srv.url, srv.ingest_key, t.service) for t in turns}
    for service, client in by_service.items():
        for session in sorted({t.session for t in turns if t.service == service}):
            client.session_started(session, user_type="customer")
            client.connect(session)
    for turn in turns:
        send(by_service[turn.service], turn, clock, srv.http, srv.ingest_key)
    for client in by_service.values():
        assert client.flush(20)
        stats = client.stats()
        assert stats["sent"] == stats["recorded"]
        assert stats["dropped"] == stats["rejected"] == stats["lost"] == 0


GUIDE_METRICS_KEYS = {
    "timestamp",
    "uptime_seconds",
    "system",
    "chat",
    "rag",
    "llm",
    "performance",
    "chatwatch",  # the server's own process, apart from the app's (issue 14)
}
GUIDE_SUMMARY_KEYS = {
    "uptime_hours",
    "total_requests",
    "success_rate_percent",
    "avg_response_time_ms",
    "rag_avg_similarity",
    "llm_total_tokens",
    "llm_avg_latency_ms",
    "system_status",
}


def assert_documents(
    srv: Served, params: dict[str, str], turns: list[Turn], aliases: dict[str, str] | None = None
) -> None:
    want = expected(turns, aliases)
    doc = srv.get("/monitoring/metrics", params)
    assert set(doc) == GUIDE_METRICS_KEYS
    for section in ("chat", "rag", "llm", "performance"):
        assert doc[section] == want[section], (section, params)
    stamped = datetime.fromisoformat(doc["timestamp"])
    assert abs(stamped.timestamp() - time.time()) < 120 and stamped.tzinfo is not None
    system = doc["system"]  # the app's processes, from SDK heartbeats (this test's own)
    assert {"cpu_percent", "memory_usage_mb", "memory_available_mb", "threads"} <= set(system)
    assert system["status"] == ("healthy" if system["instances"] else "unknown")
    own = doc["chatwatch"]
    assert own["threads"] >= 1 and own["memory_usage_mb"] > 0
    assert own["memory_available_mb"] > 0 and own["cpu_percent"] >= 0
    assert 0 <= own["uptime_seconds"] < 3600

    summary = srv.get("/monitoring/stats/summary", params)
    assert set(summary) == GUIDE_SUMMARY_KEYS
    assert {k: summary[k] for k in want["summary"]} == want["summary"], params
    assert summary["system_status"] == system["status"]
    assert 0 <= summary["uptime_hours"] < 1


# -- the tests ---------------------------------------------------------------------------


def test_every_number_matches_the_workload(
    db_url: str, serve: Callable[..., Served], clients: Callable[..., Client], clock: FakeClock
) -> None:
    """SDK turns, bare records and guide 003's POSTs add up to exactly the documents' numbers."""
    srv = serve(db_url)
    turns = make_workload(7, 160)
    assert {t.via for t in turns} == {"scope", "record", "guide"}
    run_workload(srv, clients, turns, clock)
    sophie = [t for t in turns if t.service == "sophie"]
    for params, subset in (
        ({}, turns),
        ({"window": "5m"}, turns),
        ({"window": "all"}, turns),
        ({"service": "sophie"}, sophie),
        ({"service": "treq", "window": "1h"}, [t for t in turns if t.service == "treq"]),
        ({"service": "nobody"}, []),
    ):
        assert_documents(srv, params, subset)
    health = srv.get("/monitoring/health")
    assert health["status"] == "ok" and set(health) == {"status", "service", "timestamp"}


def test_configured_model_aliases_name_the_per_model_keys(
    sqlite_url: str, serve: Callable[..., Served], clients: Callable[..., Client], clock: FakeClock
) -> None:
    """Guide 003's model_8b_calls style keys, zero for a configured model never called."""
    aliases = {
        "8b": "llama-3.1-8b-instant",
        "70b": "llama-3.3-70b-versatile",
        "glm4": "glm-4",
        "gpt4o": "gpt-4o",
    }
    srv = serve(sqlite_url, model_aliases=aliases)
    turns = make_workload(3, 60)
    run_workload(srv, clients, turns, clock)
    assert_documents(srv, {}, turns, aliases)
    llm = srv.get("/monitoring/metrics")["llm"]
    assert llm["model_gpt4o_calls"] == 0 and llm["model_8b_calls"] > 0


def _turn_event(event_id: str, **fields: Any) -> dict[str, Any]:
    return {"type": "turn", "id": event_id, "ts": time.time(), "response_time_ms": 250, **fields}


def test_the_same_batch_sent_twice_counts_once(db_url: str, serve: Callable[..., Served]) -> None:
    """202 with accepted/duplicate counts; a repeated id inside a batch is a duplicate too."""
    srv = serve(db_url)
    batch = [
        _turn_event("dup-1"),
        _turn_event("dup-2", success=False, error_type="Boom"),
        {"type": "llm_call", "id": "dup-3", "ts": time.time(), "model": "glm-4", "latency_ms": 8},
        _turn_event("dup-1"),
    ]
    first = srv.post(batch)
    assert (first.status_code, first.json()) == (202, {"accepted": 3, "duplicates": 1})
    again = srv.post(batch)
    assert (again.status_code, again.json()) == (202, {"accepted": 0, "duplicates": 4})
    chat = srv.get("/monitoring/metrics")["chat"]
    assert (chat["total_requests"], chat["failed_requests"], chat["llm_calls"]) == (2, 1, 1)
    assert srv.stored_events() == 3


def test_a_malformed_batch_is_refused_whole_naming_index_and_field(
    db_url: str, serve: Callable[..., Served]
) -> None:
    """422 lists every bad event by index and field, and none of the batch is stored."""
    srv = serve(db_url)
    now = time.time()
    good = [_turn_event("ok-0"), _turn_event("ok-1")]
    bad = [
        _turn_event("bad-2", response_time_ms=-5),
        {"type": "llm_call", "id": "bad-3", "ts": now, "latency_ms": 10},
        {"type": "bogus", "id": "bad-4", "ts": now},
        {"type": "feedback", "id": "bad-5", "ts": now, "rating": 9},
        _turn_event("bad-6", colour="red"),
    ]
    response = srv.post(good + bad)
    assert response.status_code == 422
    named = {(d["index"], d["field"]) for d in response.json()["detail"]}
    assert named == {
        (2, "response_time_ms"),
        (3, "model"),
        (4, "type"),
        (5, "rating"),
        (6, "colour"),
    }
    assert srv.stored_events() == 0
    assert srv.get("/monitoring/metrics")["chat"]["total_requests"] == 0
    retry = srv.post(good)
    assert retry.json() == {"accepted": 2, "duplicates": 0}


def test_ingest_needs_an_ingest_key(sqlite_url: str, serve: Callable[..., Served]) -> None:
    """401 without a key or with an unknown one, 403 with a read-only key, even on loopback."""
    srv = serve(sqlite_url)
    batch = [_turn_event("k-1")]
    for auth, status in (
        ("", 401),
        ("Bearer cw_ingest_not-a-real-key", 401),
        (f"Bearer {srv.read_key}", 403),
    ):
        response = srv.post(batch, Authorization=auth)
        assert response.status_code == status, auth
    assert srv.post(batch, Authorization=f"Token {srv.ingest_key}").status_code == 202
    assert srv.stored_events() == 1


def test_oversized_batches_get_413_and_store_nothing(
    sqlite_url: str, serve: Callable[..., Served]
) -> None:
    """Over the byte limit, over it once decompressed, or over the event limit: 413."""
    srv = serve(sqlite_url, max_batch_bytes=4096, max_batch_events=50)
    big = json.dumps([_turn_event(f"big-{i}") for i in range(60)]).encode()
    assert len(big) > 4096
    assert srv.post(big).status_code == 413
    bomb = gzip.compress(b"[" + b" " * (4096 * 9) + b"]")
    assert len(bomb) < 4096
    assert srv.post(bomb, **{"Content-Encoding": "gzip"}).status_code == 413
    many = [{"type": "message", "id": f"m{i}", "ts": 1.8e9, "sender_type": "u"} for i in range(51)]
    assert len(json.dumps(many)) < 4096
    response = srv.post(many)
    assert response.status_code == 413 and "50" in response.json()["detail"]
    assert srv.stored_events() == 0


def test_gzip_bodies_are_accepted_and_broken_gzip_refused(
    sqlite_url: str, serve: Callable[..., Served]
) -> None:
    """A gzipped batch is stored like a plain one; a body that is not gzip gets 400."""
    srv = serve(sqlite_url)
    body = gzip.compress(json.dumps([_turn_event("gz-1"), _turn_event("gz-2")]).encode())
    response = srv.post(body, **{"Content-Encoding": "gzip"})
    assert (response.status_code, response.json()) == (202, {"accepted": 2, "duplicates": 0})
    assert srv.post(b"not gzip at all", **{"Content-Encoding": "gzip"}).status_code == 400
    assert srv.get("/monitoring/metrics")["chat"]["total_requests"] == 2


def test_sdk_retries_while_the_server_is_down_and_delivers_once(
    sqlite_url: str,
    serve: Callable[..., Served],
    clients: Callable[..., Client],
    clock: FakeClock,
    make_server: Any,
) -> None:
    """The app's calls return normally while nothing listens; once up, each event lands once."""
    port = free_port()
    srv = serve(sqlite_url, port=port, listen=False)
    turns = [t for t in make_workload(11, 40) if t.via != "guide"]
    client = clients(srv.url, srv.ingest_key, "sophie")
    for turn in turns:
        send(client, turn, clock, srv.http, srv.ingest_key)  # would raise if the SDK did
    deadline = time.monotonic() + 10
    while client.stats()["retries"] < 2:
        assert time.monotonic() < deadline, client.stats()
        time.sleep(0.01)
    assert client.stats()["sent"] == 0
    make_server(srv.app, port=port).start()
    assert client.flush(20)
    stats = client.stats()
    assert stats["sent"] == stats["recorded"] and stats["lost"] == stats["dropped"] == 0
    want = expected([dataclasses.replace(t, service="sophie") for t in turns])
    assert srv.get("/monitoring/metrics")["chat"] == want["chat"]
    assert srv.stored_events() == stats["sent"]
