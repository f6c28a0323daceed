"""``chatwatch keys create``: an API key, printed once."""

from __future__ import annotations

from typing import Annotated

import typer

from chatwatch.cli._app import DbOption, app, console, err_console, open_store, settings_for
from chatwatch.server.keys import SCOPES, create_key

__all__ = ["create"]

keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def create(
    scope: Annotated[str, typer.Option(help="ingest, read, feedback, summary or admin")],
    name: Annotated[str, typer.Option(help="A name to recognise the key by")] = "",
    db: DbOption = None,
) -> None:
    """Create a key; only its hash is stored, so copy it now."""
    if scope not in SCOPES:
        err_console.print(f"--scope must be one of: {', '.join(SCOPES)} (got {scope!r})")
        raise typer.Exit(2)
    store = open_store(settings_for(db).database_url)
    try:
        key = create_key(store, scope, name)
    finally:
        store.close()
    console.print(key, highlight=False)
