"""A hand-made workload over two days and two services, for the exports and the read
API: every expected row is computed here from the events the tests send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

# two whole UTC days a few days ago (ingest refuses events older than the retention)
_FIRST = (datetime.now(UTC) - timedelta(days=4)).replace(hour=8, minute=0, second=0, microsecond=0)
DAY1 = _FIRST.timestamp()
DAY2 = (_FIRST + timedelta(days=1)).timestamp()
D1 = _FIRST.date().isoformat()
D2 = (_FIRST + timedelta(days=1)).date().isoformat()
BEFORE = (_FIRST - timedelta(days=2)).date().isoformat()
TOPICS = ("billing", "tech", "returns")
MODELS = ("gpt-4o-mini", "llama-3.1-8b-instant")


def workload() -> list[dict[str, Any]]:
    """12 sessions: 3 turns each with an LLM call and a RAG search; some turns fail,
    some are rated, some sessions escalate."""
    evs: list[dict[str, Any]] = []
    for n in range(12):
        sid = f"sess-{n:02d}"
        service = "svc-a" if n % 3 else "svc-b"
        who = {
            "service": service,
            "session_id": sid,
            "user_id": f"user-{n % 5}",
            "user_type": "premium" if n % 4 == 0 else "customer",
        }
        t = (DAY1 if n < 7 else DAY2) + n * 600

        def ev(suffix: str, type_: str, ts: float, **fields: Any) -> None:
            evs.append({"id": f"{sid}-{suffix}", "type": type_, "ts": ts, **who, **fields})  # noqa: B023

        ev("start", "session_started", t, channel="websocket")
        ev("conn", "connection", t + 0.1, action="connect")
        for k in range(3):
            run = f"run-{n:02d}-{k}"
            at = t + 10 + k * 30
            ok = (n + k) % 5 != 0
            model = MODELS[(n + k) % 2]
            ev(
                f"rag{k}",
                "rag_search",
                at + 0.2,
                run_id=run,
                similarity=0.5 + k / 10,
                results=k,
                search_time_ms=50.0 + k,
            )
            ev(
                f"llm{k}",
                "llm_call",
                at + 1.0,
                run_id=run,
                model=model,
                input_tokens=100 + n,
                output_tokens=20 + k,
                latency_ms=800.0,
                success=ok,
                **({} if ok else {"error_type": "timeout"}),
            )
            ev(
                f"turn{k}",
                "turn",
                at + 1.2,
                run_id=run,
                response_time_ms=1200.0 + n,
                success=ok,
                topic=TOPICS[(n + k) % 3],
                model=model,
                tokens=120 + n + k,
                rag_used=True,
                rag_found=k > 0,
                **({} if ok else {"error_type": "timeout"}),
            )
            if k == 1 and n % 2 == 0:
                ev(f"fb{k}", "feedback", at + 5, run_id=run, rating=1 + n % 5)
        if n % 4 == 1:
            ev("esc", "escalation", t + 200, reason="asked for a human")
        ev("end", "session_ended", t + 300, reason="closed")
    return evs


def post(url: str, key: str, events: list[dict[str, Any]]) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    for i in range(0, len(events), 200):
        response = httpx.post(f"{url}/api/v1/events", json=events[i : i + 200], headers=headers)
        assert response.status_code == 202, response.text


def of_type(events: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == type_]
