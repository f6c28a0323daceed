"""Dashboard users: admins who may log in. Passwords are stored as argon2 hashes only."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from chatwatch.store import Store
from chatwatch.store.schema import users

__all__ = [
    "MIN_PASSWORD",
    "User",
    "UserExists",
    "create_user",
    "delete_user",
    "end_sessions",
    "get_user",
    "list_users",
    "set_password",
    "verify_user",
]

MIN_PASSWORD = 8
MAX_USERNAME = 64
_hasher = PasswordHasher()
# Verified against when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("chatwatch-no-such-user")


class UserExists(ValueError):
    pass


@dataclass(frozen=True)
class User:
    id: int
    username: str
    password_hash: str
    created_at: float
    generation: int = 0  # in every session cookie; raised by logout and a new password

    @property
    def fingerprint(self) -> str:
        """Changes with the password, so a new password ends every existing login."""
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:16]


def _check(username: str, password: str) -> str:
    name = username.strip()
    if not name or len(name) > MAX_USERNAME:
        raise ValueError(f"username must be 1 to {MAX_USERNAME} characters")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password must be at least {MIN_PASSWORD} characters")
    return name


def create_user(store: Store, username: str, password: str) -> User:
    """Add an admin; raises UserExists if the name is taken, ValueError if it is unusable."""
    name = _check(username, password)
    hashed, now = _hasher.hash(password), time.time()
    query = insert(users).values(username=name, password_hash=hashed, created_at=now)
    try:
        with store.write() as conn:
            new_id = conn.execute(query.returning(users.c.id)).scalar_one()
    except IntegrityError:
        raise UserExists(f"user {name!r} already exists") from None
    return User(int(new_id), name, hashed, now)


def set_password(store: Store, username: str, password: str) -> bool:
    _check(username, password)
    with store.write() as conn:
        result = conn.execute(
            update(users)
            .where(users.c.username == username)
            .values(
                password_hash=_hasher.hash(password),
                session_generation=users.c.session_generation + 1,
            )
        )
    return result.rowcount > 0


def end_sessions(store: Store, user_id: int) -> None:
    """End every session of this user, on every replica (their cookies stop working)."""
    with store.write() as conn:
        conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(session_generation=users.c.session_generation + 1)
        )


def delete_user(store: Store, username: str) -> bool:
    with store.write() as conn:
        return conn.execute(delete(users).where(users.c.username == username)).rowcount > 0


def _user(row: Row[Any]) -> User:
    return User(
        int(row.id),
        str(row.username),
        str(row.password_hash),
        float(row.created_at),
        int(row.session_generation or 0),
    )


def get_user(store: Store, user_id: int) -> User | None:
    with store.read() as conn:
        row = conn.execute(select(users).where(users.c.id == user_id)).first()
    return None if row is None else _user(row)


def list_users(store: Store) -> list[User]:
    with store.read() as conn:
        return [_user(row) for row in conn.execute(select(users).order_by(users.c.username))]


def verify_user(store: Store, username: str, password: str) -> User | None:
    """The user if the password matches; rehashes when argon2's parameters have changed."""
    with store.read() as conn:
        row = conn.execute(select(users).where(users.c.username == username.strip())).first()
    user = None if row is None else _user(row)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        set_password(store, user.username, password)
        return get_user(store, user.id)
    return user
