"""``chatwatch users``: admins created with a prompted password, stored as argon2 only."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from chatwatch.cli import app
from chatwatch.dashboard.users import (
    UserExists,
    create_user,
    get_user,
    list_users,
    verify_user,
)
from chatwatch.store import Store
from chatwatch.store.schema import users


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cw.db'}"
    Store(url).close()  # users commands never create a database
    return url


def _run(db: str, *args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["users", *args, "--db", db], input=input)
    return result.exit_code, result.output


def test_create_asks_for_the_password_twice_and_stores_a_hash(db: str) -> None:
    """The password is prompted (hidden, confirmed) and only its argon2 hash is stored."""
    code, out = _run(db, "create", "ana", input="s3cret-pass\ns3cret-pass\n")
    assert code == 0 and "created user ana" in out
    assert "s3cret-pass" not in out
    store = Store(db)
    with store.read() as conn:
        stored = conn.execute(select(users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2") and "s3cret-pass" not in stored
    assert verify_user(store, "ana", "s3cret-pass") is not None
    assert verify_user(store, "ana", "wrong-pass!") is None
    store.close()


def test_create_refuses_short_duplicate_and_mismatched(db: str) -> None:
    """A short password, a taken name or a mistyped confirmation fail with a message."""
    code, out = _run(db, "create", "ana", "--password-stdin", input="short\n")
    assert code == 1 and "at least 8 characters" in out
    assert _run(db, "create", "ana", "--password-stdin", input="long enough\n")[0] == 0
    code, out = _run(db, "create", "ana", "--password-stdin", input="long enough\n")
    assert code == 1 and "already exists" in out
    code, out = _run(db, "create", "bob", input="first-try-1\nsecond-try\n")
    assert code == 1 and "do not match" in out
    store = Store(db)
    assert [u.username for u in list_users(store)] == ["ana"]
    store.close()


def test_list_password_and_delete(db: str) -> None:
    """Users can be listed, given a new password (old one stops working) and deleted."""
    _run(db, "create", "ana", "--password-stdin", input="first password\n")
    code, out = _run(db, "list")
    assert code == 0 and "ana" in out
    assert _run(db, "password", "ana", "--password-stdin", input="second password\n")[0] == 0
    store = Store(db)
    assert verify_user(store, "ana", "first password") is None
    assert verify_user(store, "ana", "second password") is not None
    store.close()
    assert _run(db, "delete", "ana")[0] == 0
    code, out = _run(db, "delete", "ana")
    assert code == 1 and "no user ana" in out


def test_create_user_api_for_other_parts(db: str) -> None:
    """``create_user(store, name, password)`` is what ``chatwatch demo`` calls."""
    store = Store(db)
    user = create_user(store, "  admin ", "demo-password")
    assert user.username == "admin" and get_user(store, user.id) == user
    with pytest.raises(UserExists):
        create_user(store, "admin", "another-password")
    assert [u.username for u in list_users(store)] == ["admin"]
    store.close()
