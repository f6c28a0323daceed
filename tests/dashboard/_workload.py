"""Data for the dashboard tests: a small hand-made workload and demo-style traffic."""

from __future__ import annotations

import random
import re
from typing import Any

import httpx

from chatwatch.demo.traffic import Traffic, to_event
from chatwatch.events import parse_events
from chatwatch.store import Store

EVIL = "<script>alert(1)</script>"
PASSWORD = "correct horse battery"


def _ev(n: str, type_: str, ts: float, session: str, **fields: Any) -> dict[str, Any]:
    who = {"user_id": f"user-{session}", "user_type": "customer"}
    return {"id": f"{session}-{n}", "type": type_, "ts": ts, "session_id": session, **who, **fields}


def small_workload(now: float) -> list[dict[str, Any]]:
    """Three sessions a few minutes old: one clean, one failing, one escalated, and a
    user-typed user id and reason that are markup (a topic is a label: markup is refused
    at ingest, see tests/server/test_hostile_strings.py)."""
    t = now - 600
    evs = [
        _ev("0", "session_started", t, "s-ok", channel="websocket"),
        _ev("1", "connection", t + 0.1, "s-ok", action="connect"),
        _ev("2", "cache_lookup", t + 1.081, "s-ok", run_id="r1", hit=False),
        _ev(
            "3",
            "rag_search",
            t + 1.2,
            "s-ok",
            run_id="r1",
            similarity=0.7,
            results=3,
            search_time_ms=120.0,
        ),
        _ev(
            "4",
            "llm_call",
            t + 2.0,
            "s-ok",
            run_id="r1",
            model="llama-3.1-8b-instant",
            input_tokens=500,
            output_tokens=120,
            latency_ms=700.0,
        ),
        _ev(
            "5",
            "turn",
            t + 2.1,
            "s-ok",
            run_id="r1",
            response_time_ms=1100.0,
            topic="billing",
            model="llama-3.1-8b-instant",
            tokens=620,
            rag_used=True,
            rag_found=True,
        ),
        _ev("6", "feedback", t + 5, "s-ok", run_id="r1", rating=5),
        _ev(
            "7",
            "turn",
            t + 30,
            "s-ok",
            run_id="r2",
            response_time_ms=90.0,
            cached=True,
            topic="shipping",
        ),
        _ev("8", "connection", t + 40, "s-ok", action="reconnect"),
        _ev("0", "session_started", t + 60, "s-bad", channel="websocket"),
        _ev(
            "1",
            "llm_call",
            t + 70,
            "s-bad",
            run_id="r3",
            model="glm-4",
            latency_ms=9000.0,
            success=False,
            error_type="TimeoutError",
        ),
        _ev(
            "2",
            "turn",
            t + 70.2,
            "s-bad",
            run_id="r3",
            response_time_ms=9300.0,
            success=False,
            error_type="TimeoutError",
            topic="refund",
            model="glm-4",
        ),
        _ev("3", "feedback", t + 80, "s-bad", run_id="r3", rating=1),
        _ev("0", "session_started", t + 120, "s-esc", channel="http"),
        _ev(
            "1",
            "turn",
            t + 125,
            "s-esc",
            run_id="r4",
            response_time_ms=2500.0,
            topic="cancellation",
            model="llama-3.3-70b-versatile",
        ),
        _ev("2", "escalation", t + 130, "s-esc", reason=EVIL),
        {**_ev("0", "session_started", t + 200, "evil"), "user_id": EVIL},
    ]
    return evs


def ingest(store: Store, events: list[dict[str, Any]]) -> None:
    store.ingest(parse_events(events))


def fill_traffic(store: Store, now: float, hours: float, rate: float = 0.2, seed: int = 7) -> int:
    """Demo traffic (three models, RAG, cache, ratings, escalations) for the last hours."""
    traffic = Traffic(random.Random(seed), clock=lambda: now, rate=rate, start=now - hours * 3600)
    count = 0
    for calls in traffic.run(now, step=900):
        events = [to_event(c, f"t{seed}-{count + i}") for i, c in enumerate(calls)]
        count += len(events)
        if events:
            ingest(store, events)
    return count


def login(
    http: httpx.Client, user: str, password: str = PASSWORD, base: str = "/analytics"
) -> httpx.Response:
    """Log in through the real form (its CSRF token included)."""
    form = http.get(f"{base}/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    data = {"username": user, "password": password, "csrf_token": token.group(1), "next": ""}
    return http.post(f"{base}/login", data=data)


def page_csrf(html: str) -> str:
    """The logged-in page's CSRF token (the logout form carries it)."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)
