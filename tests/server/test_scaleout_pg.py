"""Two and three ``chatwatch serve`` replicas (real subprocesses) on one PostgreSQL database.

The test is its own balancer: it sends batches round-robin to every replica at once
(some batches twice, to two replicas concurrently, as a retry after a lost answer would).
Nothing is lost or counted twice, every replica reads the same numbers, one replica
evaluates the alert rules (one notification per alert, counted at a real webhook
receiver), and when that leader is SIGKILLed another takes over within two of its own
evaluation rounds.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from chatwatch.server.keys import create_key
from chatwatch.store import Store
from module_db import PG_ADMIN, pg_up
from replicas import Replica, start_replicas

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

INTERVAL_S = 0.5  # evaluation interval of every replica
RULES = """rules:
  - name: errors
    metric: error_rate
    window: 5m
    min_samples: 10
"""
BATCHES, BATCH_EVENTS, SESSIONS = 60, 50, 40


@dataclass
class Hook:
    """A real HTTP receiver counting the webhook notifications it is sent."""

    url: str = ""
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def firing(self) -> list[dict[str, Any]]:
        return [b for b in self.bodies if b.get("status") == "firing"]


@dataclass
class Cluster:
    replicas: list[Replica]
    db: str
    ingest_key: str
    read_key: str
    hook: Hook

    def get(self, replica: Replica, path: str) -> Any:
        headers = {"Authorization": f"Bearer {self.read_key}"}
        response = httpx.get(f"{replica.url}{path}", headers=headers, timeout=30)
        response.raise_for_status()
        return response.json()

    def evaluators(self) -> list[dict[str, Any]]:
        return [self.get(r, "/api/v1/alerts/evaluator") for r in self.replicas if r.alive]

    def stored_ids(self) -> list[str]:
        with psycopg.connect(f"{PG_ADMIN.replace('dbname=postgres', '')} dbname={self.db}") as c:
            return [row[0] for row in c.execute("SELECT id FROM events")]


@pytest.fixture(scope="module")
def hook() -> Iterator[Hook]:
    received = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.bodies.append(json.loads(body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    received.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield received
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module", params=[2, 3], ids=["2-replicas", "3-replicas"])
def cluster(
    request: pytest.FixtureRequest, hook: Hook, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    if not pg_up():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    name = f"cw_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    rules = Path(tmp_path_factory.mktemp("rules")) / "rules.yaml"
    rules.write_text(RULES)
    store = Store(url)  # migrated once here; each replica finds the schema current
    ingest_key, read_key = create_key(store, "ingest"), create_key(store, "read")
    store.close()
    hook.bodies.clear()
    env = {
        "CHATWATCH_ALERT_EVALUATION_INTERVAL_S": str(INTERVAL_S),
        "CHATWATCH_ALERT_WEBHOOK_URLS": hook.url,
        "CHATWATCH_RULES_FILE": str(rules),
        "CHATWATCH_INGEST_PROCESSES": "0",
    }
    replicas = start_replicas(url, request.param, env)
    try:
        yield Cluster(replicas, name, ingest_key, read_key, hook)
    finally:
        for replica in replicas:
            replica.stop()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def workload(rng: random.Random) -> list[list[dict[str, Any]]]:
    """Batches over shared sessions, a quarter of each batch's turns failed (so the error
    rate is 25 % whichever batches have arrived: one critical alert, never a warning first)."""
    now = time.time()
    batches = []
    for b in range(BATCHES):
        batch: list[dict[str, Any]] = []
        for i in range(BATCH_EVENTS):
            sid = f"s{rng.randrange(SESSIONS)}"
            common = {"id": f"e{b:03d}-{i:03d}", "ts": now - rng.uniform(1, 120), "service": "api"}
            common |= {"session_id": sid, "user_id": f"u{rng.randrange(10)}"}
            if i % 5 == 4:
                batch.append({**common, "type": "llm_call", "model": "gpt-4o", "latency_ms": 300})
                continue
            failed = i % 4 == 1  # 10 of the batch's 40 turns
            turn = {**common, "type": "turn", "response_time_ms": rng.uniform(50, 3000)}
            batch.append(turn | ({"success": False, "error_type": "LLMTimeout"} if failed else {}))
        batches.append(batch)
    return batches


def send_round_robin(
    cluster: Cluster, batches: list[list[dict[str, Any]]], twice: set[int]
) -> list[dict[str, int]]:
    """Every batch to the next replica, 8 at a time; those in ``twice`` also, at the same
    time, to the replica after it. Returns every answer."""
    headers = {"Authorization": f"Bearer {cluster.ingest_key}"}
    jobs = []
    for index, batch in enumerate(batches):
        jobs.append((cluster.replicas[index % len(cluster.replicas)], batch))
        if index in twice:
            jobs.append((cluster.replicas[(index + 1) % len(cluster.replicas)], batch))

    def post(job: tuple[Replica, list[dict[str, Any]]]) -> dict[str, int]:
        replica, batch = job
        response = httpx.post(
            f"{replica.url}/api/v1/events", json=batch, headers=headers, timeout=60
        )
        assert response.status_code == 202, response.text
        result: dict[str, int] = response.json()
        return result

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(post, jobs))


def wait_for(what: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.1)


def reads(cluster: Cluster, replica: Replica) -> dict[str, Any]:
    doc = cluster.get(replica, "/monitoring/metrics")
    summary = cluster.get(replica, "/monitoring/stats/summary")
    return {
        **{k: doc[k] for k in ("chat", "rag", "llm", "performance")},
        # (process-dependent keys apart: each replica has its own uptime and CPU)
        "summary": {k: v for k, v in summary.items() if k not in ("uptime_hours", "system_status")},
    }


def leader_of(cluster: Cluster) -> tuple[Replica, dict[str, Any]]:
    live = [r for r in cluster.replicas if r.alive]
    status = [cluster.get(r, "/api/v1/alerts/evaluator") for r in live]
    leaders = [(r, s) for r, s in zip(live, status, strict=True) if s["leader"]]
    assert len(leaders) == 1, status
    # only the leader has ever evaluated (none of the followers has a round)
    assert all(s["rounds"] == 0 for s in status if not s["leader"]), status
    return leaders[0]


def test_replicas_share_one_database(cluster: Cluster) -> None:
    """Round-robin ingest loses and doubles nothing, reads agree, one replica evaluates
    and notifies once, and a SIGKILLed leader is replaced within two rounds."""
    rng = random.Random(len(cluster.replicas))
    batches = workload(rng)
    twice = set(rng.sample(range(BATCHES), BATCHES // 5))
    answers = send_round_robin(cluster, batches, twice)

    sent = [e for batch in batches for e in batch]
    assert sum(a["accepted"] for a in answers) == len(sent)
    assert sum(a["duplicates"] for a in answers) == len(twice) * BATCH_EVENTS
    stored = cluster.stored_ids()
    assert sorted(stored) == sorted(e["id"] for e in sent)

    turns = [e for e in sent if e["type"] == "turn"]
    failed = [e for e in turns if e.get("success") is False]
    seen = [reads(cluster, r) for r in cluster.replicas]
    assert seen[0]["chat"]["total_requests"] == len(turns)
    assert seen[0]["chat"]["failed_requests"] == len(failed)
    assert seen[0]["llm"]["total_calls"] == len(sent) - len(turns)
    assert all(s == seen[0] for s in seen[1:]), seen

    # one leader; its first notification is the only one, however many rounds pass
    wait_for(lambda: bool(cluster.hook.firing()), 60, "no notification arrived")
    leader, status = leader_of(cluster)
    rounds = status["rounds"]
    wait_for(
        lambda: cluster.get(leader, "/api/v1/alerts/evaluator")["rounds"] >= rounds + 4,
        60,
        "the leader stopped evaluating",
    )
    assert len(cluster.hook.firing()) == 1, cluster.hook.bodies
    assert len(cluster.hook.bodies) == 1
    alert = cluster.hook.firing()[0]["alerts"]
    assert [(a["labels"]["alertname"], a["labels"]["severity"]) for a in alert] == [
        ("errors", "critical")
    ]
    leader_of(cluster)  # still the same single leader

    # the leader dies without a word; a follower takes the lock within two of its rounds
    leader.kill()
    survivors = [r for r in cluster.replicas if r.alive]
    tried = {r.port: cluster.get(r, "/api/v1/alerts/evaluator") for r in survivors}
    wait_for(lambda: any(s["leader"] for s in cluster.evaluators()), 60, "no replica took over")
    successor, status = leader_of(cluster)
    assert status["leader_since_attempt"] - tried[successor.port]["attempts"] <= 2, status
    wait_for(
        lambda: cluster.get(successor, "/api/v1/alerts/evaluator")["rounds"] >= 3,
        60,
        "the new leader does not evaluate",
    )
    assert len(cluster.hook.bodies) == 1  # the alert's state is shared: not sent again

    # the survivors still take ingest and agree
    more = [
        {**e, "id": f"late-{e['id']}", "ts": time.time() - 1}
        for e in batches[0]
        if e["type"] == "turn"
    ]
    headers = {"Authorization": f"Bearer {cluster.ingest_key}"}
    answer = httpx.post(
        f"{survivors[0].url}/api/v1/events", json=more, headers=headers, timeout=60
    ).json()
    assert answer == {"accepted": len(more), "duplicates": 0}
    after = [reads(cluster, r) for r in survivors]
    assert after[0]["chat"]["total_requests"] == len(turns) + len(more)
    assert all(s == after[0] for s in after[1:]), after
