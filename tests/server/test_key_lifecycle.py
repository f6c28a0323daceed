"""Key lifecycle: create with an expiry, list (never the key), revoke by prefix, from the
CLI and the admin routes; two replicas refuse a revoked or expired key within the
one-second check cache; last use recorded at most once a minute; the demo reuses keys."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from typer.testing import CliRunner

from chatwatch.cli import app as cli
from chatwatch.cli.demo import demo_key
from chatwatch.config import Settings
from chatwatch.server import create_app
from chatwatch.server.keys import (
    KEY_CACHE_S,
    AmbiguousKey,
    create_key,
    list_keys,
    parse_duration,
    revoke_key,
    verify_key,
)
from chatwatch.store import Store
from chatwatch.store.schema import api_keys


def _settings(url: str) -> Settings:
    return Settings(
        database_url=url, alerts_enabled=False, maintenance_interval_s=0, _env_file=None
    )  # type: ignore[call-arg]


class Replica:
    """One server process's app on the shared database, driven in-process."""

    def __init__(self, url: str) -> None:
        self.store = Store(url)
        self.app: FastAPI = create_app(_settings(url), self.store)

    def call(self, method: str, path: str, key: str, **kw: Any) -> httpx.Response:
        async def run() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=("203.0.113.9", 1))
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as h:
                headers = {"Authorization": f"Bearer {key}"}
                return await h.request(method, path, headers=headers, **kw)

        return asyncio.run(run())

    def reads(self, key: str) -> int:
        return self.call("GET", "/monitoring/stats/summary", key).status_code


@pytest.fixture
def replicas(sqlite_url: str) -> Iterator[tuple[Replica, Replica]]:
    one, two = Replica(sqlite_url), Replica(sqlite_url)
    yield one, two
    one.store.close()
    two.store.close()


def _until_refused(replica: Replica, key: str) -> float:
    """Seconds until ``replica`` refuses ``key`` (fails past twice the cache time)."""
    start = time.monotonic()
    while replica.reads(key) != 401:
        assert time.monotonic() - start < 2 * KEY_CACHE_S + 1, "still accepted"
        time.sleep(0.05)
    return time.monotonic() - start


def test_cli_create_list_revoke(sqlite_url: str, replicas: tuple[Replica, Replica]) -> None:
    one, two = replicas
    made = CliRunner().invoke(
        cli, ["keys", "create", "--scope", "read", "--name", "grafana", "--db", sqlite_url]
    )
    assert made.exit_code == 0, made.output
    key = made.output.strip()
    bad = CliRunner().invoke(cli, ["keys", "create", "--scope", "read", "--expires-in", "soon"])
    assert bad.exit_code == 2 and "--expires-in" in bad.output
    timed = CliRunner().invoke(
        cli, ["keys", "create", "--scope", "ingest", "--expires-in", "90d", "--db", sqlite_url]
    )
    assert timed.exit_code == 0
    assert one.reads(key) == two.reads(key) == 200  # both replicas now hold it in cache

    listed = CliRunner().invoke(cli, ["keys", "list", "--db", sqlite_url])
    assert listed.exit_code == 0
    (line,) = [row for row in listed.output.splitlines() if "grafana" in row]
    prefix = line.split()[0]
    assert key.startswith(prefix) and len(prefix) == len("cw_read_") + 8
    assert key not in listed.output and timed.output.strip() not in listed.output
    (ingest_row,) = [row for row in listed.output.splitlines() if " ingest " in row]
    expiry = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 90 * 86400))
    assert expiry in ingest_row and "active" in ingest_row

    revoked = CliRunner().invoke(cli, ["keys", "revoke", prefix, "--db", sqlite_url])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    for replica in replicas:  # another process revoked it: each replica within the cache
        assert _until_refused(replica, key) <= 2 * KEY_CACHE_S + 1
    again = CliRunner().invoke(cli, ["keys", "list", "--all", "--db", sqlite_url])
    assert "revoked" in next(r for r in again.output.splitlines() if "grafana" in r)
    assert "grafana" not in CliRunner().invoke(cli, ["keys", "list", "--db", sqlite_url]).output
    missing = CliRunner().invoke(cli, ["keys", "revoke", "cw_read_nothere", "--db", sqlite_url])
    assert missing.exit_code == 1


def test_admin_routes_create_list_and_revoke(replicas: tuple[Replica, Replica]) -> None:
    one, two = replicas
    admin = create_key(one.store, "admin", "ops")
    made = one.call("POST", "/api/v1/keys", admin, json={"scope": "read", "expires_in": "12h"})
    assert made.status_code == 201, made.text
    body = made.json()
    key = body["key"]
    assert key.startswith(body["prefix"]) and body["scope"] == "read"
    assert body["expires_at"] == pytest.approx(time.time() + 12 * 3600, abs=60)
    assert two.reads(key) == 200
    listed = one.call("GET", "/api/v1/keys", admin).json()["keys"]
    assert body["prefix"] in {k["prefix"] for k in listed}
    assert key not in str(listed) and "key_hash" not in str(listed)
    for bad, field in (({"scope": "root"}, "scope"), ({"scope": "read", "expires_in": "x"}, "")):
        answer = one.call("POST", "/api/v1/keys", admin, json=bad)
        assert answer.status_code == 422 and (field in answer.text)
    assert one.call("GET", "/api/v1/keys", key).status_code == 403  # a read key is not admin

    gone = one.call("DELETE", f"/api/v1/keys/{body['prefix']}", admin)
    assert gone.status_code == 200 and gone.json()["revoked"] is True
    assert one.reads(key) == 401  # the replica that revoked it: at once
    assert _until_refused(two, key) <= 2 * KEY_CACHE_S + 1  # the other: within the cache
    assert one.call("DELETE", f"/api/v1/keys/{body['prefix']}", admin).status_code == 200
    assert one.call("DELETE", "/api/v1/keys/cw_read_nothere", admin).status_code == 404


def test_an_expired_key_is_refused(replicas: tuple[Replica, Replica]) -> None:
    one, two = replicas
    short = create_key(one.store, "read", "short", expires_in_s=0.6)
    assert one.reads(short) == 200  # cached, with its expiry
    time.sleep(0.7)
    assert one.reads(short) == 401  # refused at once, the cache knows the expiry
    long = create_key(one.store, "read", "long", expires_in_s=3600)
    assert two.reads(long) == 200
    with one.store.write() as conn:  # expiry moved into the past by another process
        conn.execute(
            update(api_keys).where(api_keys.c.name == "long").values(expires_at=time.time())
        )
    assert _until_refused(two, long) <= 2 * KEY_CACHE_S + 1
    assert verify_key(one.store, long) is None


def test_last_use_is_recorded_at_most_once_a_minute(replicas: tuple[Replica, Replica]) -> None:
    one, _ = replicas
    key = create_key(one.store, "read", "used")

    def last_used() -> float | None:
        with one.store.read() as conn:
            return conn.execute(
                select(api_keys.c.last_used_at).where(api_keys.c.name == "used")
            ).scalar()

    assert last_used() is None
    assert one.reads(key) == 200
    first = last_used()
    assert first is not None and abs(first - time.time()) < 30
    time.sleep(KEY_CACHE_S + 0.1)  # past the cache: the key is read again, not written
    assert one.reads(key) == 200
    assert last_used() == first
    (info,) = [k for k in list_keys(one.store) if k.name == "used"]
    assert info.last_used_at == first


def test_revoke_by_an_ambiguous_prefix_is_refused(sqlite_store: Store) -> None:
    key = create_key(sqlite_store, "read", "a")
    prefix = next(k.prefix for k in list_keys(sqlite_store))
    with sqlite_store.write() as conn:  # a second key with the same prefix (unlikely, but)
        conn.execute(
            api_keys.insert().values(
                name="b", scope="read", prefix=prefix, key_hash="0" * 64, created_at=0.0
            )
        )
    with pytest.raises(AmbiguousKey):
        revoke_key(sqlite_store, prefix)
    assert revoke_key(sqlite_store, key) is not None  # the whole key is never ambiguous
    assert verify_key(sqlite_store, key) is None


def test_durations() -> None:
    assert parse_duration("90d") == 90 * 86400
    assert parse_duration("2w") == 14 * 86400
    assert parse_duration("12h") == 43200
    for bad in ("0d", "d", "1y", "-3d", ""):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_the_demo_reuses_its_keys(sqlite_store: Store) -> None:
    """Each demo run gets the keys of the last one while they work; a revoked one is
    replaced (and only then a new key is made)."""
    first = demo_key(sqlite_store, "ingest", "demo traffic")
    assert demo_key(sqlite_store, "ingest", "demo traffic") == first
    assert demo_key(sqlite_store, "read", "demo reader") != first
    assert len(list_keys(sqlite_store)) == 2
    revoke_key(sqlite_store, first)
    second = demo_key(sqlite_store, "ingest", "demo traffic")
    assert second != first and verify_key(sqlite_store, second) is not None
    assert demo_key(sqlite_store, "ingest", "demo traffic") == second
    assert len(list_keys(sqlite_store, include_revoked=False)) == 2
