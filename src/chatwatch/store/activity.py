"""When each service last sent anything, and the app processes' latest heartbeats: the
reads behind silent-service alerts and guide 003's ``system`` section.

Last activity comes from the rollups (heartbeats are a series there too), to the minute:
the hour rollups find each service's last hour, its minute rollups the last minute, and
the service counts as seen at that minute's start (the catalogue adds the exact time of
its latest heartbeat, so an app with the SDK is timed to the second).
Heartbeats are read from the events themselves through a partial index that holds only
them, so the figures are exact and the read costs a few rows per process.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from chatwatch.store.rollup import HOUR, MINUTE
from chatwatch.store.schema import HEARTBEAT, events, rollups, user_usage

__all__ = [
    "FAR_FUTURE",
    "Instance",
    "last_hours",
    "merge_last_hours",
    "read_instances",
    "read_last_seen",
    "read_user_usage",
]

FAR_FUTURE = 2**62  # an open end for bucket ranges


@dataclass(frozen=True)
class Instance:
    """One app process, as its latest heartbeat describes it."""

    service: str
    host: str
    pid: int
    ts: float
    memory_rss_mb: float
    cpu_percent: float | None = None
    threads: int | None = None
    connections: int | None = None
    queue_depth: int = 0
    dropped: int = 0
    memory_available_mb: float | None = None
    started_at: float | None = None
    interval_s: float = 15.0


def last_hours(
    conn: Connection, segments: Sequence[tuple[int, int, int]], service: str | None = None
) -> dict[str, int]:
    """Per service, its last hour bucket with rollups within the (hour) segments."""
    r = rollups.c
    found: dict[str, int] = {}
    for _, lo, hi in segments:
        hours = select(r.service, func.max(r.bucket)).where(
            r.res == HOUR, r.bucket >= lo, r.bucket < hi
        )
        if service is not None:
            hours = hours.where(r.service == service)
        for svc, hour in conn.execute(hours.group_by(r.service)):
            found[str(svc)] = max(found.get(str(svc), 0), int(hour))
    return found


def merge_last_hours(parts: list[dict[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for part in parts:
        for svc, hour in part.items():
            if hour > merged.get(svc, -1):
                merged[svc] = hour
    return merged


def read_last_seen(
    conn: Connection,
    since: float,
    service: str | None = None,
    last_hour: dict[str, int] | None = None,
) -> dict[str, float]:
    """Per service with rollups since ``since``: the start of its last active minute.

    One grouped query for the last hours (or ``last_hour``, when the caller has them:
    the store remembers sealed hours, since over 30 days this is the costliest query of
    a read), then one per distinct last hour (usually one or two) for the last minutes
    within it: a read per service would cost a query per service, and services can be
    many."""
    r = rollups.c
    if last_hour is None:
        last_hour = last_hours(conn, [(HOUR, int(since) // HOUR * HOUR, FAR_FUTURE)], service)
    by_hour: dict[int, list[str]] = {}
    for svc, hour in last_hour.items():
        by_hour.setdefault(hour, []).append(svc)
    last_minute: dict[str, int] = {}
    for hour, names in by_hour.items():
        for start in range(0, len(names), 500):
            chunk = names[start : start + 500]
            minutes = select(r.service, func.max(r.bucket)).where(
                r.res == MINUTE, r.bucket >= hour, r.bucket < hour + HOUR, r.service.in_(chunk)
            )
            for svc, minute in conn.execute(minutes.group_by(r.service)):
                last_minute[str(svc)] = int(minute)
    return {
        svc: float(last_minute.get(svc, hour + HOUR - MINUTE)) for svc, hour in last_hour.items()
    }


def read_instances(conn: Connection, since: float, service: str | None = None) -> list[Instance]:
    """Each process's latest heartbeat since ``since``, keyed by service, host and pid."""
    e = events.c
    query = select(e.service, e.ts, e.data).where(HEARTBEAT, e.ts >= since).order_by(e.ts)
    if service is not None:
        query = query.where(e.service == service)
    latest: dict[tuple[str, str, int], Instance] = {}
    for svc, ts, data in conn.execute(query):
        d: dict[str, Any] = json.loads(data)
        key = (str(svc), str(d["host"]), int(d["pid"]))
        latest[key] = Instance(
            service=key[0],
            host=key[1],
            pid=key[2],
            ts=float(ts),
            memory_rss_mb=float(d["memory_rss_mb"]),
            cpu_percent=d.get("cpu_percent"),
            threads=d.get("threads"),
            connections=d.get("connections"),
            queue_depth=int(d.get("queue_depth", 0)),
            dropped=int(d.get("dropped", 0)),
            memory_available_mb=d.get("memory_available_mb"),
            started_at=d.get("started_at"),
            interval_s=float(d.get("interval_s", 15.0)),
        )
    return [latest[key] for key in sorted(latest)]


def read_user_usage(
    conn: Connection, start: int, end: int, service: str | None = None
) -> dict[str, tuple[int, int, float]]:
    """Per user: LLM calls, tokens and cost over the hours overlapping [start, end)."""
    u = user_usage.c
    query = select(u.user_id, func.sum(u.calls), func.sum(u.tokens), func.sum(u.cost_usd)).where(
        u.hour >= start // HOUR * HOUR, u.hour < end
    )
    if service is not None:
        query = query.where(u.service == service)
    rows = conn.execute(query.group_by(u.user_id)).all()
    return {str(user): (int(calls), int(tokens), float(cost)) for user, calls, tokens, cost in rows}
