"""Databases that live for a whole test module (one server per module and dialect), for
tests that start a real server once; ``conftest``'s fixtures make one per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

__all__ = ["DIALECTS", "PG_ADMIN", "pg_up", "throwaway_db"]

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
DIALECTS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def pg_up() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


@contextmanager
def throwaway_db(dialect: str, folder: Path) -> Iterator[str]:
    """A fresh database URL of ``dialect`` (a file in ``folder`` for SQLite), dropped after."""
    if dialect == "sqlite":
        yield f"sqlite:///{folder / 'chatwatch.db'}"
        return
    if not pg_up():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    name = f"cw_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
