"""executemany on SQLite with the interpreter released for the whole statement.

Python's sqlite3 releases the GIL around each row's step and takes it back after, so the
ingest writer inserting a group's 20 000 rows waited for the GIL 20 000 times while the
request threads decoded the next batches: SQLite's work barely ran beside theirs, and the
hand-overs cost CPU of their own. The compiled helper (chatwatch/store/_bulk.c) reads the
rows' values with the GIL, then binds and steps every row without it, on the same
connection and in its open transaction. It takes what executemany binds without an
adapter (int, bool, float, str, bytes, None); anything else, a connection it cannot vouch
for, or a build without the helper goes to the driver's executemany, as does the rest of
a statement that failed, so errors are the driver's own; but where the failure made SQLite
roll the transaction back, the error is raised as the driver raises it, without running
the rest (in autocommit they would be stored outside the transaction).
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from sqlalchemy import Connection, exc

__all__ = ["execute_many", "native"]


def _load() -> Any:
    if os.environ.get("CHATWATCH_PURE_PYTHON"):
        return None
    try:
        import _sqlite3

        from chatwatch.store import _bulk
    except ImportError:
        return None
    return _bulk if _bulk.setup(_sqlite3.__file__) else None


_native = _load()
_CHECKED = "chatwatch.bulk"  # the pool's info of a connection whose handle was checked


def native() -> bool:
    """Whether SQLite statements run through the compiled helper."""
    return _native is not None


def _vouched(conn: Connection, dbapi: sqlite3.Connection) -> bool:
    """The handle the helper reads says what the connection itself says (checked once
    per connection, kept in the pool's record of it)."""
    info = conn.connection.info
    known = info.get(_CHECKED)
    if known is None:
        name, in_transaction = _native.describe(dbapi)
        files = {row[1]: row[2] for row in dbapi.execute("PRAGMA database_list")}
        known = info[_CHECKED] = files.get("main") == name and (
            in_transaction == dbapi.in_transaction
        )
    return bool(known)


def execute_many(conn: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """``conn.exec_driver_sql(sql, rows)`` for a statement with ``?`` parameters."""
    if not rows:
        return
    if _native is not None and conn.dialect.name == "sqlite":
        dbapi: Any = conn.connection.dbapi_connection
        if type(dbapi) is sqlite3.Connection and _vouched(conn, dbapi):
            written, error = _native.insert(dbapi, sql, rows)
            if written == len(rows):
                return
            if error is not None and not dbapi.in_transaction:
                # SQLite rolled the whole transaction back (a full disk, an I/O error): the
                # rest run by the driver would be written in autocommit, outside the
                # caller's transaction, half a batch stored with nothing counting it
                raise exc.OperationalError(sql, rows[written], sqlite3.OperationalError(error))
            if written > 0:  # a row failed: the driver runs the rest and raises its error
                rows = rows[written:]
    conn.exec_driver_sql(sql, rows)
