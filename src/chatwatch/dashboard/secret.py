"""The key that signs dashboard cookies.

``CHATWATCH_SECRET_KEY`` when set; otherwise a random key generated on first use and kept
in the database's ``secrets`` table, so restarts keep logins and every replica sharing
the database signs alike. Rotating it (set the variable, or delete the row) logs
everyone out.
"""

from __future__ import annotations

import secrets as random
import time

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from chatwatch.config import Settings
from chatwatch.store import Store
from chatwatch.store.schema import secrets

__all__ = ["SECRET_NAME", "secret_key"]

SECRET_NAME = "dashboard_session_key"


def _stored(store: Store) -> str | None:
    with store.read() as conn:
        value = conn.execute(
            select(secrets.c.value).where(secrets.c.name == SECRET_NAME)
        ).scalar_one_or_none()
    return None if value is None else str(value)


def secret_key(settings: Settings, store: Store) -> str:
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value()
    found = _stored(store)
    if found is not None:
        return found
    try:
        with store.write() as conn:
            conn.execute(
                insert(secrets).values(
                    name=SECRET_NAME, value=random.token_urlsafe(48), created_at=time.time()
                )
            )
    except IntegrityError:
        pass  # another replica stored one first; use theirs
    found = _stored(store)
    if found is None:
        raise RuntimeError("could not store the dashboard secret key")
    return found
