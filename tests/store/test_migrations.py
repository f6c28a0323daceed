"""The Alembic migrations build exactly the schema ``store/schema.py`` declares."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from chatwatch.store import Store
from chatwatch.store.engine import MIGRATIONS, migrate, normalize_url
from chatwatch.store.schema import metadata


def _diffs(url: str) -> list[Any]:
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_migrated_schema_matches_the_metadata(db_url: str) -> None:
    """Autogenerate finds nothing to change after the migrations ran: no drift either way."""
    Store(db_url).close()
    assert _diffs(db_url) == []


def test_an_empty_database_shows_every_table_missing(db_url: str) -> None:
    """The comparison is live: before migrating, every declared table is reported missing."""
    missing = {d[1].name for d in _diffs(db_url) if d[0] == "add_table"}
    assert missing == set(metadata.tables)


def test_migrations_are_one_chain_and_reach_head_idempotently(db_url: str) -> None:
    """Running the migrations twice leaves the database at the single head revision."""
    store = Store(db_url)
    try:
        migrate(store.engine)
        with store.engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
            assert list(versions) == [_head()]
        assert set(metadata.tables) <= set(inspect(store.engine).get_table_names())
    finally:
        store.close()


def test_0012_backfills_the_session_index(db_url: str) -> None:
    """A database with events from before 0012 finds them through event_sessions after it."""
    from chatwatch.store.engine import make_engine

    engine = make_engine(db_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.connect() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0010")
            for i in range(12):
                conn.execute(
                    text(
                        "INSERT INTO events (id, ts, type, service, session_id, data)"
                        " VALUES (:id, :ts, 'turn', 'svc', :sid, '{}')"
                    ),
                    {"id": f"e{i}", "ts": 100.0 + i, "sid": f"s{i % 3}" if i % 4 else None},
                )
            conn.commit()
            command.upgrade(config, "head")
            conn.commit()
            got = conn.execute(text("SELECT session_id, id FROM event_sessions")).all()
        assert sorted(map(tuple, got)) == sorted((f"s{i % 3}", f"e{i}") for i in range(12) if i % 4)
    finally:
        engine.dispose()
