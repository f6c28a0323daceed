"""API keys: shown once, stored as a SHA-256 hash (they are random, so a fast hash is
enough; user passwords get argon2), with a scope, an optional expiry and the last use.

A scope grants route groups (``SCOPE_GROUPS``); every keyed route belongs to one group
(``chatwatch.server.auth.require``). A new scope is one entry in that table. A revoked or
expired key is refused by every replica within ``KEY_CACHE_S`` (the only cache is a
per-process one of that length; a revocation made by this process applies at once).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Row, insert, or_, select, update

from chatwatch.store import Store
from chatwatch.store.schema import api_keys

__all__ = [
    "ALL_GROUPS",
    "KEY_CACHE_S",
    "SCOPES",
    "SCOPE_GROUPS",
    "AmbiguousKey",
    "ApiKey",
    "KeyChecker",
    "KeyInfo",
    "Scope",
    "allows",
    "create_key",
    "list_keys",
    "parse_duration",
    "revoke_key",
    "scopes_for",
    "verify_key",
]

Scope = str
ALL_GROUPS = "*"
# scope -> the route groups its keys may use. ``feedback`` is safe to embed in a browser:
# it may only post feedback for an existing run. ``ingest`` may post feedback too.
SCOPE_GROUPS: dict[Scope, frozenset[str]] = {
    "ingest": frozenset({"ingest", "feedback"}),
    "read": frozenset({"read", "summary"}),
    # ``summary`` reads only aggregate routes (/monitoring/stats/summary): no user ids,
    # no breakdowns by user, so it may sit in a browser page (server/cors.py)
    "summary": frozenset({"summary"}),
    "feedback": frozenset({"feedback"}),
    "admin": frozenset({ALL_GROUPS}),
}
SCOPES: tuple[Scope, ...] = tuple(SCOPE_GROUPS)
KEY_CACHE_S = 1.0  # how long a process trusts a key it has checked
LAST_USED_EVERY_S = 60.0  # last_used_at is written at most this often per key and process
_PREFIX_RANDOM = 8


@dataclass(frozen=True)
class ApiKey:
    name: str
    scope: Scope
    prefix: str


@dataclass(frozen=True)
class KeyInfo:
    """A key as ``keys list`` shows it: never the key itself."""

    id: int
    prefix: str
    name: str
    scope: Scope
    created_at: float
    last_used_at: float | None
    expires_at: float | None
    revoked: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "name": self.name,
            "scope": self.scope,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "expires_at": self.expires_at,
            "revoked": self.revoked,
        }


class AmbiguousKey(ValueError):
    """A prefix that names more than one key."""


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def allows(granted: str, group: str) -> bool:
    """Whether a key of scope ``granted`` may use routes of ``group``."""
    groups = SCOPE_GROUPS.get(granted, frozenset())
    return ALL_GROUPS in groups or group in groups


def scopes_for(group: str) -> list[Scope]:
    """The scopes whose keys may use ``group`` (for a 403 that names what is needed)."""
    return [scope for scope in SCOPES if allows(scope, group)]


_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """``90d``, ``12h``, ``30m``, ``2w``, ``45s`` → seconds; ValueError otherwise."""
    match = _DURATION.match(text)
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"expected a duration such as 90d, 12h or 30m, got {text[:32]!r}")
    return float(int(match.group(1)) * _UNIT_S[match.group(2)])


def create_key(
    store: Store, scope: Scope, name: str = "", *, expires_in_s: float | None = None
) -> str:
    if scope not in SCOPE_GROUPS:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    if expires_in_s is not None and expires_in_s <= 0:
        raise ValueError("expires_in must be positive")
    key = f"cw_{scope}_{secrets.token_urlsafe(24)}"
    now = time.time()
    with store.write() as conn:
        conn.execute(
            insert(api_keys).values(
                name=(name or scope)[:128],
                scope=scope,
                prefix=key[: len(scope) + 4 + _PREFIX_RANDOM],
                key_hash=_hash(key),
                created_at=now,
                revoked=False,
                expires_at=None if expires_in_s is None else now + expires_in_s,
            )
        )
    return key


def _info(row: Row[Any]) -> KeyInfo:
    return KeyInfo(
        int(row.id),
        str(row.prefix),
        str(row.name),
        str(row.scope),
        float(row.created_at),
        None if row.last_used_at is None else float(row.last_used_at),
        None if row.expires_at is None else float(row.expires_at),
        bool(row.revoked),
    )


def list_keys(store: Store, *, include_revoked: bool = True) -> list[KeyInfo]:
    query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
    if not include_revoked:
        query = query.where(api_keys.c.revoked.is_(False))
    with store.read() as conn:
        return [_info(row) for row in conn.execute(query)]


def revoke_key(store: Store, key_or_prefix: str) -> KeyInfo | None:
    """Revoke the key given whole or by its prefix (as ``keys list`` shows it).

    None when nothing matches; AmbiguousKey when a prefix names several keys.
    """
    value = key_or_prefix.strip()
    if not value:
        return None
    match = or_(api_keys.c.key_hash == _hash(value), api_keys.c.prefix == value)
    with store.write() as conn:
        rows = conn.execute(select(api_keys).where(match)).all()
        if len(rows) > 1:
            raise AmbiguousKey(f"{len(rows)} keys have the prefix {value[:32]!r}; give the key")
        if not rows:
            return None
        conn.execute(update(api_keys).where(api_keys.c.id == rows[0].id).values(revoked=True))
    return replace(_info(rows[0]), revoked=True)


def _lookup(store: Store, key_hash: str) -> tuple[ApiKey, int, float | None] | None:
    query = select(
        api_keys.c.id,
        api_keys.c.name,
        api_keys.c.scope,
        api_keys.c.prefix,
        api_keys.c.expires_at,
    ).where(api_keys.c.key_hash == key_hash, api_keys.c.revoked.is_(False))
    with store.read() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    expires = None if row.expires_at is None else float(row.expires_at)
    return ApiKey(str(row.name), str(row.scope), str(row.prefix)), int(row.id), expires


def verify_key(store: Store, key: str) -> ApiKey | None:
    """The key if it is known, not revoked and not expired (reads the database)."""
    found = _lookup(store, _hash(key))
    if found is None or (found[2] is not None and found[2] <= time.time()):
        return None
    return found[0]


@dataclass
class _Cached:
    key: ApiKey | None
    key_id: int
    expires_at: float | None
    checked: float  # time.monotonic() of the database read


class KeyChecker:
    """Checks keys for one process: a database read at most every ``ttl_s`` per key, and
    ``last_used_at`` written at most every ``LAST_USED_EVERY_S`` per key."""

    def __init__(self, store: Store, ttl_s: float = KEY_CACHE_S, max_entries: int = 10_000):
        self.store = store
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._cache: dict[str, _Cached] = {}
        self._last_written: dict[int, float] = {}
        self._lock = threading.Lock()

    def cached(self, key: str) -> tuple[bool, ApiKey | None]:
        """(True, result) when this process checked ``key`` under ``ttl_s`` ago and no
        write of last use is due; (False, None) when ``check`` must run (in a thread)."""
        entry = self._cache.get(_hash(key))
        now = time.monotonic()
        if entry is None or now - entry.checked > self.ttl_s:
            return False, None
        if entry.key is None:
            return True, None
        if entry.expires_at is not None and entry.expires_at <= time.time():
            return True, None
        if now - self._last_written.get(entry.key_id, -1e18) > LAST_USED_EVERY_S:
            return False, None
        return True, entry.key

    def check(self, key: str) -> ApiKey | None:
        """Blocking: read the key from the database and record its use when due."""
        key_hash = _hash(key)
        found = _lookup(self.store, key_hash)
        now = time.monotonic()
        if found is None:
            entry = _Cached(None, 0, None, now)
        else:
            entry = _Cached(found[0], found[1], found[2], now)
        with self._lock:
            if len(self._cache) >= self.max_entries:
                self._cache.clear()
            self._cache[key_hash] = entry
        if entry.key is None or (entry.expires_at is not None and entry.expires_at <= time.time()):
            return None
        if now - self._last_written.get(entry.key_id, -1e18) > LAST_USED_EVERY_S:
            self._last_written[entry.key_id] = now
            with self.store.write() as conn:
                conn.execute(
                    update(api_keys)
                    .where(api_keys.c.id == entry.key_id)
                    .values(last_used_at=time.time())
                )
        return entry.key

    def forget(self) -> None:
        """Drop every cached check (after this process revoked a key)."""
        with self._lock:
            self._cache.clear()
