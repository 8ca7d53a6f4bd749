"""What the admin commands (``threads``, ``prune``) share: the store, paging, deletion.

They work on the store directly, not through a server: across users with the store's
admin queries, and as one user (``RequestContext(user_id=...)``) for everything else,
so ownership rules hold exactly as they do for requests.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from chatkit_backend.context import RequestContext
from chatkit_backend.settings import Settings, load_settings
from chatkit_backend.stores import BackendStore, OwnedThread, store_from_settings
from chatkit_backend.stores.base import as_utc

DATABASE_URL_HELP = (
    "Store URL. Default: CHATKIT_DATABASE_URL, else the SQLite file in the data folder."
)
DATA_DIR_HELP = (
    "Data folder (CHATKIT_DATA_DIR): the default SQLite file and attachments live there."
)
BATCH = 200

DatabaseUrlOption = typer.Option(None, "--database-url", help=DATABASE_URL_HELP)
DataDirOption = typer.Option(None, "--data-dir", help=DATA_DIR_HELP)


def admin_settings(database_url: str | None, data_dir: Path | None) -> Settings:
    """Settings from the environment with the command's overrides (a bad value exits 2)."""
    overrides: dict[str, Any] = {}
    if database_url:
        overrides["database_url"] = database_url
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    return load_settings(**overrides)  # SettingsError: exit 2 (cli.main)


def missing_database(settings: Settings) -> Path | None:
    """The SQLite file the settings name when there is no such file (None otherwise:
    ``memory://``, PostgreSQL, or a file that is there)."""
    from chatkit_backend.stores.engine import parse_database_url, sqlite_file, store_kind

    url = settings.resolved_database_url
    if store_kind(url) != "sqlite":
        return None
    path = sqlite_file(parse_database_url(url))
    return path if path is not None and not path.is_file() else None


def refuse_missing_database(settings: Settings) -> None:
    """Exit 1 naming the SQLite file when there is none (``missing_database``)."""
    missing = missing_database(settings)
    if missing is not None:
        from chatkit_backend.cli.output import fail

        fail(
            f"no database at {missing}: check --data-dir or --database-url "
            "(the server creates it when it first starts)"
        )


@asynccontextmanager
async def opened_store(settings: Settings, *, create: bool = False) -> AsyncIterator[BackendStore]:
    """The configured store, opened (migrated on SQLite when auto-upgrade is on) and closed.

    Without ``create``, a SQLite file that does not exist is an error (exit 1, nothing
    written): a command that reads or changes threads never leaves an empty database
    behind a mistyped ``--data-dir`` or ``--database-url``.
    """
    if not create:
        refuse_missing_database(settings)
    store = store_from_settings(settings)
    try:
        await store.open()
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def opened_attachments(settings: Settings, store: BackendStore) -> AsyncIterator[Any]:
    """The attachment store whose files go with deleted threads (None when attachments are
    off), its storage connections closed at the end."""
    if not settings.attachments:
        yield None
        return
    from chatkit_backend.attachments import attachment_store_from_settings

    attachments = attachment_store_from_settings(settings, store)
    try:
        yield attachments
    finally:
        await attachments.aclose()


async def owned_threads(
    store: BackendStore,
    user_id: str | None,
    created_before: datetime | None = None,
    batch: int = BATCH,
) -> AsyncIterator[list[OwnedThread]]:
    """Every thread (of one user, or all), newest first, in batches.

    Safe while the caller deletes the threads it is given, and never repeats or skips a
    thread when many share a ``created_at`` (the cursor steps one microsecond past the
    boundary and remembers the ids it has already handed out there).
    """
    cursor = created_before
    boundary_ids: set[str] = set()
    limit = batch
    while True:
        rows = await store.admin_list_threads(user_id, limit=limit, created_before=cursor)
        fresh = [row for row in rows if row.thread.id not in boundary_ids]
        full = len(rows) >= limit
        if not fresh:
            if not full:
                return
            limit *= 2  # a whole page at one instant: widen the page
            continue
        yield fresh
        if not full:
            return
        boundary = min(as_utc(row.thread.created_at) for row in rows)
        boundary_ids = {row.thread.id for row in rows if as_utc(row.thread.created_at) == boundary}
        cursor = boundary + timedelta(microseconds=1)
        limit = batch


async def last_activity(store: BackendStore, owned: OwnedThread) -> datetime:
    """When the thread last changed: its newest item, else its creation (UTC)."""
    context = RequestContext(user_id=owned.user_id)
    page = await store.load_thread_items(owned.thread.id, None, 1, "desc", context)
    newest = page.data[0].created_at if page.data else owned.thread.created_at
    return max(as_utc(newest), as_utc(owned.thread.created_at))


@dataclass
class Deleted:
    """What deleting one thread removed."""

    user_id: str
    thread_id: str
    files: int


async def delete_thread(store: BackendStore, files: Any, user_id: str, thread_id: str) -> Deleted:
    """Delete a thread with its items, feedback, attachment rows and attachment files
    (through the attachment store's ``delete_thread``, as the server does)."""
    context = RequestContext(user_id=user_id)
    if files is None:
        await store.delete_thread(thread_id, context)
        return Deleted(user_id, thread_id, 0)
    return Deleted(user_id, thread_id, await files.delete_thread(thread_id, context))
