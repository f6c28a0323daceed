"""Which provider serves each model: read from the stored LLM call events.

The rollups carry the model, not the provider (a provider is an optional field of an
``llm_call``), so alerts and figures per provider relabel the per-model rollups through
this map instead of adding a rollup dimension. A model recorded with no provider maps to
``unknown``; one recorded with several (``gpt-4o`` through ``openai`` and ``azure``)
maps to their names joined by ``+`` (``azure+openai``): the rollups cannot split it, and
summing it under one of them would make that provider's figures wrong. Past
``MAX_JOINED`` providers for one model the name is ``mixed``: provider values are not
capped at ingest, and a joined name must stay a label an alert, a notification and a
state row can hold.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from chatwatch.store.schema import events
from chatwatch.store.session_query import json_field

__all__ = [
    "MAX_JOINED",
    "MIXED_PROVIDER",
    "UNKNOWN_PROVIDER",
    "provider_map",
    "read_model_providers",
]

UNKNOWN_PROVIDER = "unknown"
MIXED_PROVIDER = "mixed"
MAX_JOINED = 3  # providers named in one joined label (each at most 64 characters)


def provider_map(pairs: list[tuple[str, str | None]]) -> dict[str, str]:
    """Model -> provider from the (model, provider) pairs seen."""
    seen: dict[str, set[str]] = {}
    for model, provider in pairs:
        seen.setdefault(model, set()).add(provider or UNKNOWN_PROVIDER)
    return {
        model: "+".join(sorted(names)) if len(names) <= MAX_JOINED else MIXED_PROVIDER
        for model, names in seen.items()
    }


def read_model_providers(
    conn: Connection, start: float, end: float, service: str | None = None
) -> dict[str, str]:
    """Model -> provider over the LLM call events stored in [start, end)."""
    e = events.c
    model, provider = json_field(conn, e.data, "model"), json_field(conn, e.data, "provider")
    query = (
        select(model, provider).where(e.type == "llm_call", e.ts >= start, e.ts < end).distinct()
    )
    if service is not None:
        query = query.where(e.service == service)
    rows = conn.execute(query).all()
    return provider_map([(str(m), None if p is None else str(p)) for m, p in rows if m is not None])
