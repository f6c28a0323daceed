"""``chatwatch users``: the admins who may log in to the dashboard."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from chatwatch.cli._app import DbOption, app, console, err_console, open_store, settings_for
from chatwatch.dashboard.users import (
    UserExists,
    create_user,
    delete_user,
    list_users,
    set_password,
)
from chatwatch.store import Store

__all__ = ["create", "delete", "list_", "password"]

users_app = typer.Typer(help="Manage dashboard users (admins).", no_args_is_help=True)
app.add_typer(users_app, name="users")

StdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input")
]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


def _store(db: str | None) -> Store:
    return open_store(settings_for(db).database_url)


@users_app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="Login name")],
    password_stdin: StdinOption = False,
    db: DbOption = None,
) -> None:
    """Create an admin who may log in to the dashboard."""
    password = _password(password_stdin)
    store = _store(db)
    try:
        create_user(store, username, password)
    except (UserExists, ValueError) as exc:
        err_console.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(1) from None
    finally:
        store.close()
    console.print(f"created user {username}", highlight=False, markup=False)


@users_app.command("password")
def password(
    username: Annotated[str, typer.Argument(help="Login name")],
    password_stdin: StdinOption = False,
    db: DbOption = None,
) -> None:
    """Set a new password (ends the user's existing logins)."""
    new = _password(password_stdin)
    store = _store(db)
    try:
        changed = set_password(store, username, new)
    except ValueError as exc:
        err_console.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(1) from None
    finally:
        store.close()
    if not changed:
        err_console.print(f"no user {username}", highlight=False, markup=False)
        raise typer.Exit(1)
    console.print(f"password changed for {username}", highlight=False, markup=False)


@users_app.command("list")
def list_(db: DbOption = None) -> None:
    """List users and when they were created."""
    store = _store(db)
    try:
        found = list_users(store)
    finally:
        store.close()
    for user in found:
        created = datetime.fromtimestamp(user.created_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        console.print(f"{user.username}\t{created}", highlight=False, markup=False)


@users_app.command("delete")
def delete(
    username: Annotated[str, typer.Argument(help="Login name")], db: DbOption = None
) -> None:
    """Remove a user (their logins end at once)."""
    store = _store(db)
    try:
        removed = delete_user(store, username)
    finally:
        store.close()
    if not removed:
        err_console.print(f"no user {username}", highlight=False, markup=False)
        raise typer.Exit(1)
    console.print(f"deleted user {username}", highlight=False, markup=False)
