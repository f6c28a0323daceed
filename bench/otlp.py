"""OTLP trace ingest: spans/s into SQLite over HTTP, beside /api/v1/events in the same run.

A chatwatch server (uvicorn in this process, a fresh SQLite file, ``otlp_trace_settle_s``
0 so each trace is assembled as its export is stored) receives exports of 512 spans (the
BatchSpanProcessor's default batch), protobuf and gzipped, from one sender like one app
process. Each trace is what OpenInference writes for a RAG turn: a CHAIN root with the
session, a RETRIEVER and an LLM span; its 3 spans become 3 events (turn, search, call).
Beside it, the same number of events as SDK batches (JSON, gzip) to ``/api/v1/events``.

Phoenix's figure is the one its maintainers published: "80 spans / second after testing" on
Arize-ai/phoenix#3027 ("[persistence] throughput numbers for sqlite / postgres", 2024-05-13;
machine, sender and batch size not stated). It is printed beside, not measured here (no
Phoenix install); the baseline measured in the same run is chatwatch's own /api/v1/events.

    .venv/bin/python bench/otlp.py [--traces N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integrations" / "otlp"))

from otlp_build import export, span

from chatwatch.config import Settings
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from chatwatch.store.schema import events
from live_server import LiveServer

SPANS_PER_EXPORT = 512
PHOENIX_SPANS_S = 80  # Arize-ai/phoenix#3027: "80 spans / second after testing"


def _trace(n: int, now_ms: float) -> list[Any]:
    start = now_ms + n
    root = {"openinference.span.kind": "CHAIN", "session.id": f"s-{n % 500}"}
    docs = {f"retrieval.documents.{i}.document.score": 0.9 - i / 10 for i in range(3)}
    llm = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o-mini-2024-07-18",
        "llm.invocation_parameters": '{"model": "gpt-4o-mini"}',
        "llm.token_count.prompt": 300,
        "llm.token_count.completion": 80,
    }
    return [  # in the order they end, as a BatchSpanProcessor exports them
        span(
            n + 1,
            2,
            1,
            start_ms=start + 5,
            duration_ms=40,
            attrs={"openinference.span.kind": "RETRIEVER", **docs},
        ),
        span(n + 1, 3, 1, start_ms=start + 50, duration_ms=800, attrs=llm),
        span(n + 1, 1, start_ms=start, duration_ms=900, attrs=root),
    ]


def otlp_bodies(traces: int) -> list[bytes]:
    from otlp_build import T0

    now_ms = (time.time_ns() - T0) / 1e6 - traces - 60_000
    spans = [s for n in range(traces) for s in _trace(n, now_ms)]
    chunks = [spans[i : i + SPANS_PER_EXPORT] for i in range(0, len(spans), SPANS_PER_EXPORT)]
    return [gzip.compress(export(c, "bench").SerializeToString()) for c in chunks]


def event_bodies(events: int) -> list[bytes]:
    now = time.time() - 60
    batch: list[dict[str, Any]] = []
    bodies = []
    for i in range(events):
        batch.append(
            {
                "type": "llm_call",
                "id": f"e{i}",
                "ts": now + i / 1000,
                "service": "bench-sdk",
                "session_id": f"s-{i % 500}",
                "run_id": f"r{i // 3}",
                "model": "gpt-4o-mini",
                "input_tokens": 300,
                "output_tokens": 80,
                "latency_ms": 800.0,
            }
        )
        if len(batch) == SPANS_PER_EXPORT:
            bodies.append(gzip.compress(json.dumps(batch).encode()))
            batch = []
    if batch:
        bodies.append(gzip.compress(json.dumps(batch).encode()))
    return bodies


def send(url: str, key: str, bodies: list[bytes], ctype: str) -> float:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": ctype, "Content-Encoding": "gzip"}
    with httpx.Client(timeout=120) as client:
        start = time.perf_counter()
        for body in bodies:
            answer = client.post(url, content=body, headers=headers)
            assert answer.status_code in (200, 202), answer.text[:300]
        return time.perf_counter() - start


def _events(store: Any) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


def run(traces: int, settle_s: float) -> tuple[float, float, float]:
    """(seconds to acknowledge every export, seconds until every event is stored, SDK s)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(  # type: ignore[call-arg]
            database_url=f"sqlite:///{tmp}/bench.db",
            otlp_trace_settle_s=settle_s,
            alerts_enabled=False,
            _env_file=None,
        )
        app = create_app(settings)
        store = app.state.chatwatch.store
        key = create_key(store, "ingest")
        live = LiveServer(app).start()
        try:
            spans = 3 * traces
            start = time.perf_counter()
            acked = send(
                f"{live.url}/v1/traces", key, otlp_bodies(traces), "application/x-protobuf"
            )
            deadline = time.monotonic() + 120 + settle_s
            while (n := _events(store)) < spans:
                if time.monotonic() > deadline:
                    raise SystemExit(f"only {n} of {spans} events stored")
                time.sleep(0.05)
            stored = time.perf_counter() - start - settle_s  # the wait itself is not work
            sdk = send(f"{live.url}/api/v1/events", key, event_bodies(spans), "application/json")
        finally:
            live.stop()
            store.close()
    return acked, stored, sdk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=6000)
    args = parser.parse_args()
    spans = 3 * args.traces
    for settle in (0.0, 1.0):
        acked, stored, sdk = run(args.traces, settle)
        print(
            f"settle {settle:.0f} s: OTLP /v1/traces {spans} spans acknowledged in {acked:5.2f} s"
            f" = {spans / acked:6.0f} spans/s; all events stored {stored:5.2f} s after the first"
            f" export (less the settle time) = {spans / stored:6.0f} spans/s"
        )
        print(
            f"            /api/v1/events {spans} events in {sdk:5.2f} s = {spans / sdk:6.0f}"
            f" events/s (OTLP stored / SDK: {sdk / stored:.2f})"
        )
    print(
        f"Phoenix (published, not measured here): {PHOENIX_SPANS_S} spans/s"
        " (Arize-ai/phoenix#3027, SQLite/PostgreSQL persistence, 2024-05-13)"
    )


if __name__ == "__main__":
    main()
