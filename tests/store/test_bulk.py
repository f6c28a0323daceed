"""The compiled SQLite insert (chatwatch/store/_bulk.c) against the driver's executemany:
the same rows stored with the same types, the same errors, the same rows kept before one."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, exc

from chatwatch.store import bulk
from chatwatch.store.engine import make_engine

pytestmark = pytest.mark.skipif(not bulk.native(), reason="the C extension is not built")

COLUMNS = 5
_INSERT = "INSERT INTO {table} VALUES (?, ?, ?, ?, ?)"
_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),  # NUL, astral characters, lone surrogates
    st.binary(max_size=20),
)
_rows = st.lists(st.tuples(*[_values] * COLUMNS), min_size=1, max_size=30)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("bulk") / "bulk.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        for table in ("native", "driver"):
            conn.exec_driver_sql(f"CREATE TABLE {table} (a, b, c, d, e)")
    yield engine
    engine.dispose()


def _stored(conn: Connection, table: str) -> list[tuple[Any, ...]]:
    """Every value with its storage class, in insertion order (NaN: SQLite's NULL)."""
    cells = ", ".join(f"{c}, typeof({c})" for c in "abcde")
    return [tuple(r) for r in conn.exec_driver_sql(f"SELECT {cells} FROM {table} ORDER BY rowid")]


def _outcome(conn: Connection, fn: Any) -> type[BaseException] | None:
    try:
        fn()
    except exc.DBAPIError as error:
        return type(error.orig)
    except Exception as error:  # the driver's own, unwrapped (a str it cannot encode)
        return type(error)
    return None


def _both(engine: Engine, rows: list[tuple[Any, ...]]) -> tuple[Any, Any]:
    """What each way leaves in its table, and the error each raised, in one transaction."""
    with engine.connect() as conn, conn.begin() as tx:
        native = _outcome(
            conn, lambda: bulk.execute_many(conn, _INSERT.format(table="native"), rows)
        )
        driver = _outcome(conn, lambda: conn.exec_driver_sql(_INSERT.format(table="driver"), rows))
        result = (_stored(conn, "native"), native), (_stored(conn, "driver"), driver)
        tx.rollback()
    return result


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=_rows)
def test_the_compiled_insert_stores_what_executemany_stores(
    engine: Engine, rows: list[tuple[Any, ...]]
) -> None:
    native, driver = _both(engine, rows)
    assert native == driver


def test_ordinary_rows_take_the_compiled_path(engine: Engine) -> None:
    """Event rows (str, float, None) are written by the helper, not declined."""
    rows = [(f"id{i}", i * 0.5, None, "turn", '{"success":true}') for i in range(1000)]
    with engine.connect() as conn, conn.begin() as tx:
        dbapi: Any = conn.connection.dbapi_connection
        assert bulk._native.insert(dbapi, _INSERT.format(table="native"), rows) == (len(rows), None)
        assert _stored(conn, "native") == [
            (a, "text", b, "real", None, "null", d, "text", e, "text") for a, b, _, d, e in rows
        ]
        tx.rollback()


def test_values_it_does_not_take_go_to_the_driver(engine: Engine) -> None:
    """A Decimal (no adapter) and an int past 64 bits fail as the driver fails them, with
    the rows before them kept as executemany keeps them."""
    for bad in (Decimal("1.5"), 2**64, "\ud800"):
        rows = [(1, 2.0, "x", None, b"y"), (2, 3.0, bad, None, None), (3, 4.0, "z", None, None)]
        native, driver = _both(engine, rows)
        assert native == driver
        assert native[1] is not None  # it did fail


def test_a_row_that_fails_keeps_the_rows_before_it_and_raises_the_drivers_error(
    engine: Engine,
) -> None:
    with engine.connect() as conn, conn.begin() as tx:
        conn.exec_driver_sql("CREATE UNIQUE INDEX one_a ON native (a)")
        rows = [(i, float(i), None, None, None) for i in range(10)] + [(3, 0.0, None, None, None)]
        with pytest.raises(exc.IntegrityError):
            bulk.execute_many(conn, _INSERT.format(table="native"), rows)
        assert [r[0] for r in _stored(conn, "native")] == list(range(10))
        tx.rollback()


def test_it_reads_a_handle_only_from_a_sqlite3_connection() -> None:
    with pytest.raises(TypeError, match=r"sqlite3\.Connection"):
        bulk._native.insert(object(), "SELECT 1", [(1,)])


def test_outside_a_transaction_the_driver_writes(engine: Engine) -> None:
    with engine.connect() as conn:
        dbapi: Any = conn.connection.dbapi_connection
        assert not dbapi.in_transaction
        assert bulk._native.insert(dbapi, _INSERT.format(table="native"), [(1,) * 5]) == (-1, None)


@pytest.mark.parametrize("way", ["native", "driver"])
def test_a_full_database_stores_nothing_of_the_statement(tmp_path: Path, way: str) -> None:
    """SQLite rolls the transaction back when the file is full: the rest of the rows must
    not then be written in autocommit (141 rows were, before), and the error is the
    driver's OperationalError, the one ingest answers 503 for."""
    engine = make_engine(f"sqlite:///{tmp_path / 'full.db'}")
    rows = [(i, "x" * 500) for i in range(5000)]
    sql = "INSERT INTO t VALUES (?, ?)"
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (a, b)")
        with engine.connect() as conn:
            dbapi: Any = conn.connection.dbapi_connection
            dbapi.execute("PRAGMA max_page_count=20")
            with pytest.raises(exc.OperationalError, match="full"), conn.begin():
                if way == "native":
                    bulk.execute_many(conn, sql, rows)
                else:
                    conn.exec_driver_sql(sql, rows)
            assert dbapi.execute("SELECT count(*) FROM t").fetchone() == (0,)
    finally:
        engine.dispose()
