"""``chatkit-backend db``: upgrade the database schema, or show its revision."""

from collections.abc import Callable
from typing import TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError

from chatkit_backend.cli import db_copy
from chatkit_backend.cli.output import JsonOption, escape, fail, print_json, stdout_console
from chatkit_backend.errors import BackendError
from chatkit_backend.settings import load_settings
from chatkit_backend.stores import migrations
from chatkit_backend.stores.engine import display_url, store_kind

T = TypeVar("T")

app = typer.Typer(help="Database schema commands, and copying a store.", no_args_is_help=True)

DATABASE_URL_OPTION = typer.Option(
    None,
    "--database-url",
    help="Store URL (default: CHATKIT_DATABASE_URL, else the SQLite file in CHATKIT_DATA_DIR).",
    show_default=False,
)


def _database_url(database_url: str | None) -> str:
    if database_url:
        return database_url
    return load_settings().resolved_database_url  # a bad setting exits 2 (cli.main)


def _against_database(url: str, action: Callable[[], T]) -> T:
    """Run ``action``; a bad URL or an unreachable database becomes one ``error:`` line."""
    try:
        if store_kind(url) == "memory":
            fail("memory:// keeps no schema: there is nothing to migrate or show")
        return action()
    except BackendError as exc:
        fail(exc.message)
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "orig", None) or exc
        fail(f"cannot use the database at {display_url(url)}: {type(reason).__name__}: {reason}")


@app.command()
def upgrade(database_url: str | None = DATABASE_URL_OPTION) -> None:
    """Migrate the database to the schema this version needs (creates the tables on an empty one)."""
    url = _database_url(database_url)
    shown = display_url(url)
    before = _against_database(url, lambda: migrations.current(url))
    target = migrations.head()
    console = stdout_console()
    if before == target:
        console.print(f"{escape(shown)}: schema already at revision {target}, nothing to do")
        return
    _against_database(url, lambda: migrations.upgrade(url))
    console.print(f"{escape(shown)}: schema upgraded from revision {before or 'none'} to {target}")


@app.command()
def current(
    database_url: str | None = DATABASE_URL_OPTION,
    as_json: bool = JsonOption,
) -> None:
    """Show the database's schema revision and the one this version needs."""
    url = _database_url(database_url)
    shown = display_url(url)
    revision = _against_database(url, lambda: migrations.current(url))
    target = migrations.head()
    up_to_date = revision == target
    if as_json:
        print_json(
            {"database": shown, "revision": revision, "head": target, "up_to_date": up_to_date}
        )
        return
    console = stdout_console()
    console.print(f"database: {escape(shown)}")
    console.print(f"revision: {revision or 'none (empty database)'}")
    console.print(f"this version needs: {target}")
    if up_to_date:
        console.print("status: up to date")
    else:
        console.print(
            f"status: out of date: run `chatkit-backend db upgrade --database-url {escape(shown)}`"
        )


app.command("copy")(db_copy.copy_store)
