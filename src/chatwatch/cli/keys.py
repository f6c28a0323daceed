"""``chatwatch keys create|list|revoke``: API keys, printed once, listed without the key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from chatwatch.cli._app import DbOption, app, console, err_console, open_store, settings_for
from chatwatch.server.keys import (
    SCOPES,
    AmbiguousKey,
    create_key,
    list_keys,
    parse_duration,
    revoke_key,
)

__all__ = ["create", "list_", "revoke"]

keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _when(ts: float | None, never: str = "never") -> str:
    if ts is None:
        return never
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%MZ")


@keys_app.command("create")
def create(
    scope: Annotated[str, typer.Option(help=", ".join(SCOPES))],
    name: Annotated[str, typer.Option(help="A name to recognise the key by")] = "",
    expires_in: Annotated[
        str | None, typer.Option(help="Lifetime such as 90d, 12h, 2w (default: no expiry)")
    ] = None,
    db: DbOption = None,
) -> None:
    """Create a key; only its hash is stored, so copy it now."""
    if scope not in SCOPES:
        err_console.print(f"--scope must be one of: {', '.join(SCOPES)} (got {scope[:32]!r})")
        raise typer.Exit(2)
    try:
        lifetime = None if expires_in is None else parse_duration(expires_in)
    except ValueError as exc:
        err_console.print(f"--expires-in: {exc}", highlight=False, markup=False)
        raise typer.Exit(2) from None
    store = open_store(settings_for(db).database_url)
    try:
        key = create_key(store, scope, name, expires_in_s=lifetime)
    finally:
        store.close()
    console.print(key, highlight=False)


@keys_app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Show revoked keys too")] = False,
    db: DbOption = None,
) -> None:
    """Prefix, name, scope, created, last used and expiry of each key (never the key)."""
    store = open_store(settings_for(db).database_url)
    try:
        found = list_keys(store, include_revoked=all_)
    finally:
        store.close()
    now = datetime.now(UTC).timestamp()
    rows = [("PREFIX", "NAME", "SCOPE", "CREATED", "LAST USED", "EXPIRES", "STATE")]
    for key in found:
        expired = key.expires_at is not None and key.expires_at <= now
        state = "revoked" if key.revoked else "expired" if expired else "active"
        rows.append(
            (
                key.prefix,
                key.name[:32],
                key.scope,
                _when(key.created_at),
                _when(key.last_used_at),
                _when(key.expires_at),
                state,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        console.print(line.rstrip(), highlight=False, markup=False, soft_wrap=True)


@keys_app.command("revoke")
def revoke(
    key_or_prefix: Annotated[str, typer.Argument(help="The key, or its prefix from keys list")],
    db: DbOption = None,
) -> None:
    """Revoke a key: refused from now on by every server sharing the database."""
    store = open_store(settings_for(db).database_url)
    try:
        found = revoke_key(store, key_or_prefix)
    except AmbiguousKey as exc:
        err_console.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(1) from None
    finally:
        store.close()
    if found is None:
        err_console.print("no key has that value or prefix", highlight=False, markup=False)
        raise typer.Exit(1)
    console.print(f"revoked {found.prefix} ({found.name}, {found.scope})", highlight=False)
