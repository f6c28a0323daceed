"""What label caps cost and what they save.

1. The hook on the ingest path: ``LabelGuard.fold`` on the merged increments of a batch
   whose values are all admitted (the steady state), beside ``prepare`` of the same
   batch (validation done; rows and increments made) as the baseline. Printed per batch
   and as a share of ``prepare``.
2. The reads they bound: N services and N models (each service a session, a turn and an
   LLM call of its own model) in one SQLite store with the default caps and in another
   with no effective cap; for each, ``/metrics`` (size and CPU seconds of the collector),
   ``/api/v1/metrics``' document and one alert evaluation round, best of a few runs.

    .venv/bin/python bench/cardinality.py [--n 10000] [--uncapped-n 3000] [--runs 3] [--postgres]

CPU seconds (``time.process_time``) are printed beside wall seconds: on a shared machine
the wall figures move with the load, the CPU figures much less.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest

from chatwatch.alerts import evaluate, load_rules
from chatwatch.config import Settings
from chatwatch.events import parse_events
from chatwatch.metrics import Catalogue
from chatwatch.metrics.prometheus import make_registry
from chatwatch.server.monitoring import metrics_document
from chatwatch.store import Store
from chatwatch.store.rollup import Delta
from chatwatch.store.writer import prepare

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from module_db import throwaway_db


def best(runs: int, fn: Callable[[], Any]) -> tuple[float, float, Any]:
    cpu_best, wall_best, out = float("inf"), float("inf"), None
    for _ in range(runs):
        cpu, wall = time.process_time(), time.perf_counter()
        out = fn()
        cpu_best = min(cpu_best, time.process_time() - cpu)
        wall_best = min(wall_best, time.perf_counter() - wall)
    return cpu_best, wall_best, out


def events(n: int, now: float, offset: int = 0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(offset, offset + n):
        common = {"ts": now - 900 + (i % 10_000) * 0.05, "service": f"svc-{i}"}
        common["session_id"] = f"s{i}"
        out += [
            {**common, "id": uuid.uuid4().hex, "type": "session_started"},
            {
                **common,
                "id": uuid.uuid4().hex,
                "type": "turn",
                "response_time_ms": 300,
                "model": f"model-{i}",
                "topic": f"topic-{i % 50}",
            },
            {
                **common,
                "id": uuid.uuid4().hex,
                "type": "llm_call",
                "latency_ms": 200,
                "model": f"model-{i}",
                "input_tokens": 10,
                "output_tokens": 5,
            },
        ]
    return out


def hook_cost(runs: int) -> None:
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'hook.db'}")
        raw = events(34, now)  # 102 events over 5 services and 3 models
        for k, e in enumerate(raw):
            e["service"] = f"svc-{k % 5}"
            if "model" in e:
                e["model"] = f"m-{k % 3}"
        batch = parse_events(raw)
        store.ingest(batch)  # the values are admitted once
        prepare_s, _, _ = best(runs * 50, lambda: prepare(batch, store_text=False))
        deltas = [prepare(batch, store_text=False).delta for _ in range(runs * 50)]
        with store.write() as conn:
            it = iter(deltas)

            def fold() -> None:
                delta: Delta = next(it)
                store.labels.fold(conn, delta)

            fold_s, _, _ = best(runs * 50, fold)
        store.close()
    print(f"hook: a batch of {len(batch)} events, every label value admitted")
    print(f"  prepare (baseline)    {prepare_s * 1e6:9.1f} us")
    print(f"  LabelGuard.fold       {fold_s * 1e6:9.1f} us  ({fold_s / prepare_s:.1%} of prepare)")


def reads(
    n: int, caps: dict[str, int] | None, runs: int, label: str, dialect: str = "sqlite"
) -> None:
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp, throwaway_db(dialect, Path(tmp)) as url:
        settings = Settings(  # type: ignore[call-arg]
            database_url=url,
            alerts_enabled=False,
            _env_file=None,
            **({} if caps is None else caps),
        )
        store = Store(settings.database_url, label_caps=settings.label_caps())
        for lo in range(0, n, 2000):
            store.ingest(parse_events(events(min(2000, n - lo), now, lo)))
        cat = Catalogue(store, settings)
        registry = make_registry(cat, "1h")
        m_cpu, m_wall, body = best(runs, lambda: generate_latest(registry))
        a_cpu, a_wall, _ = best(runs, lambda: metrics_document(cat, cat.reading("24h")))
        rules = load_rules(None)
        cold = time.perf_counter()  # the first round: no state stored yet, caches cold
        evaluate(store, settings, rules, deliver=False)
        cold = time.perf_counter() - cold
        r_cpu, r_wall, _ = best(runs, lambda: evaluate(store, settings, rules, deliver=False))
        store.close()
    print(f"{label}: {n} services and {n} models ({dialect})")
    size = len(body) / 1e6
    print(f"  /metrics              {size:6.2f} MB  cpu {m_cpu:6.2f} s  wall {m_wall:6.2f} s")
    print(f"  /monitoring/metrics   cpu {a_cpu:6.2f} s  wall {a_wall:6.2f} s")
    print(f"  alert round           cpu {r_cpu:6.2f} s  wall {r_wall:6.2f} s  (first {cold:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--uncapped-n", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--postgres", action="store_true", help="also the default caps on the local PostgreSQL"
    )
    args = parser.parse_args()
    logging.getLogger("chatwatch").setLevel(logging.CRITICAL + 1)  # no line per firing alert
    hook_cost(args.runs)
    reads(args.n, None, args.runs, "default caps")
    if args.postgres:
        reads(args.n, None, args.runs, "default caps", "postgresql")
    big = {"max_services": 10**9, "max_models": 10**9, "max_topics": 10**9}
    reads(args.uncapped_n, big, args.runs, "no effective cap (baseline)")


if __name__ == "__main__":
    main()
