"""API keys: shown once, stored as a SHA-256 hash (they are random, so a fast hash is
enough; user passwords get argon2)."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import insert, select

from chatwatch.store import Store
from chatwatch.store.schema import api_keys

__all__ = ["SCOPES", "ApiKey", "Scope", "allows", "create_key", "verify_key"]

Scope = Literal["ingest", "read", "admin"]
SCOPES: tuple[Scope, ...] = ("ingest", "read", "admin")


@dataclass(frozen=True)
class ApiKey:
    name: str
    scope: Scope
    prefix: str


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def allows(granted: str, needed: Scope) -> bool:
    """admin may do everything; read and ingest only their own."""
    return granted == "admin" or granted == needed


def create_key(store: Store, scope: Scope, name: str = "") -> str:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    key = f"cw_{scope}_{secrets.token_urlsafe(24)}"
    with store.write() as conn:
        conn.execute(
            insert(api_keys).values(
                name=name or scope,
                scope=scope,
                prefix=key[: len(scope) + 8],
                key_hash=_hash(key),
                created_at=time.time(),
                revoked=False,
            )
        )
    return key


def verify_key(store: Store, key: str) -> ApiKey | None:
    query = select(api_keys.c.name, api_keys.c.scope, api_keys.c.prefix).where(
        api_keys.c.key_hash == _hash(key), api_keys.c.revoked.is_(False)
    )
    with store.read() as conn:
        row = conn.execute(query).first()
    return None if row is None else ApiKey(row.name, row.scope, row.prefix)
