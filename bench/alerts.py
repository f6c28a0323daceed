"""What alert evaluation costs: one round of every shipped rule against one catalogue read.

Fills a SQLite store with a day of traffic (turns and LLM calls over three models) spread
over 1, 10 and 50 services, then times, interleaved in the same run: one evaluation round
of the 16 shipped rules (reads through the catalogue, state step, history; no delivery),
and, as the baseline, one read of every catalogue metric over one window (what
``/api/v1/metrics`` does). Target: a round costs a handful of catalogue reads, whatever the
number of services (rules over the same window share one grouped read for all services).

    .venv/bin/python bench/alerts.py [--events N] [--rounds N]
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from chatwatch.alerts import evaluate, load_rules
from chatwatch.config import Settings
from chatwatch.events import Event, LLMCall, Turn
from chatwatch.metrics import Catalogue
from chatwatch.store import Store

MODELS = ("llama-3.1-8b-instant", "llama-3.3-70b-versatile", "glm-4")


def fill(store: Store, events: int, services: int, now: float) -> None:
    rng = random.Random(7)
    batch: list[Event] = []
    for i in range(events // 2):
        ts = datetime.fromtimestamp(now - rng.random() * 86400, UTC)
        service = f"svc{i % services}"
        batch.append(
            Turn(
                id=f"t{i:09d}",
                ts=ts,
                type="turn",
                service=service,
                response_time_ms=rng.uniform(200, 3000),
                success=rng.random() > 0.04,
            )
        )
        batch.append(
            LLMCall(
                id=f"l{i:09d}",
                ts=ts,
                type="llm_call",
                service=service,
                model=rng.choice(MODELS),
                latency_ms=rng.uniform(200, 2500),
            )
        )
        if len(batch) >= 5000:
            store.ingest(batch)
            batch = []
    if batch:
        store.ingest(batch)


def run(events: int, services: int, rounds: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
        store = Store(url)
        now = time.time()
        fill(store, events, services, now)
        rules = load_rules()
        cat = Catalogue(store, settings)
        first = evaluate(store, settings, rules, deliver=False)
        round_ms, read_ms = [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            evaluate(store, settings, rules, deliver=False)
            t1 = time.perf_counter()
            cat.values(cat.reading("15m"))
            t2 = time.perf_counter()
            round_ms.append((t1 - t0) * 1000)
            read_ms.append((t2 - t1) * 1000)
        store.close()
    return statistics.median(round_ms), statistics.median(read_ms), len(first.states)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # the alerts it raises are not the point here
    print(f"alert evaluation, {args.events:,} events over 24 h, 16 shipped rules, SQLite")
    for services in (1, 10, 50):
        round_ms, read_ms, states = run(args.events, services, args.rounds)
        print(
            f"  {services:>3} services: round {round_ms:7.1f} ms ({states} alert label sets "
            f"stored) | one catalogue read {read_ms:6.1f} ms | ratio {round_ms / read_ms:5.1f}x"
        )


if __name__ == "__main__":
    main()
