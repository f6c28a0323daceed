"""Engine factory per dialect and schema migration on start."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url

Synchronous = Literal["normal", "full"]

__all__ = ["StoreUnavailable", "is_sqlite", "make_engine", "migrate", "must_exist", "normalize_url"]

MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATE_LOCK = threading.Lock()
# SQLite page cache per connection, filled only as pages are read: 8 MB, since the
# session index no longer sits on the events table (32 MB cost ~20 MB of RSS under load)
_CACHE_KB = 8 * 1024
_CHECKPOINT_PAGES = 10_000
# for a new file only (an existing one keeps its own): SQLite writes the WAL a frame per
# page, two write calls each, so a commit of appended rows costs half as many calls with
# pages of 8 KB as of 4 KB (the commit ~0.6 µs per event less, bench/_stages.py)
_PAGE_BYTES = 8192


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` and a bare file path; chatwatch speaks psycopg 3."""
    if "://" not in url:
        return f"sqlite:///{url}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class StoreUnavailable(RuntimeError):
    """No chatwatch database at the URL (missing, empty or unreadable); nothing was made."""


def must_exist(url: str) -> None:
    """Raise StoreUnavailable unless ``url`` holds a chatwatch schema; creates nothing
    (a missing SQLite file is checked before SQLite would make one)."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if path in ("", ":memory:"):
            raise StoreUnavailable("an in-memory database holds nothing to read")
        if not Path(path).is_file():
            raise StoreUnavailable(f"no database at {path} (create it with `chatwatch migrate`)")
        readonly = parsed.set(
            database=f"file:{Path(path).resolve()}?mode=ro", query={"uri": "true"}
        )
        engine = create_engine(readonly)
    else:
        engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
    except Exception as exc:
        raise StoreUnavailable(f"cannot read the database: {type(exc).__name__}") from None
    finally:
        engine.dispose()
    if not {"events", "rollups", "alembic_version"} <= tables:
        raise StoreUnavailable(
            "the database has no chatwatch schema (create it with `chatwatch migrate`)"
        )


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, sqlite_synchronous: Synchronous = "normal") -> Engine:
    """``sqlite_synchronous``: NORMAL (WAL) loses no commit when the process dies, FULL
    none when the machine loses power either (an fsync per commit: bench/ingest.py)."""
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url, sqlite_synchronous)
    # hide_parameters: an error's log line names the statement, never the user's values
    return create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=10, hide_parameters=True
    )


def _sqlite_engine(url: str, synchronous: Synchronous = "normal") -> Engine:
    if synchronous not in ("normal", "full"):
        raise ValueError(f"sqlite_synchronous must be normal or full, not {synchronous!r}")
    pragma = f"PRAGMA synchronous={synchronous.upper()}"
    memory = make_url(url).database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": 30},
        "hide_parameters": True,
    }
    if memory:
        from sqlalchemy.pool import StaticPool

        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event own transactions so writers can BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            # before WAL mode, which fixes the page size of a new file
            cursor.execute(f"PRAGMA page_size={_PAGE_BYTES}")
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(pragma)
        cursor.execute("PRAGMA busy_timeout=30000")
        # Checkpointing the WAL every 10,000 pages (not 1,000) copies a page written by
        # many commits once (bench/events_table.py).
        cursor.execute(f"PRAGMA cache_size=-{_CACHE_KB}")
        cursor.execute(f"PRAGMA wal_autocheckpoint={_CHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get("chatwatch_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe to run from every process at start."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _MIGRATE_LOCK, engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SELECT pg_advisory_lock(727100001)")
            connection.commit()
        try:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
        finally:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SELECT pg_advisory_unlock(727100001)")
                connection.commit()
