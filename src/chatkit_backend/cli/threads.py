"""``chatkit-backend threads``: list, show, export, import and delete threads in the store.

    chatkit-backend threads list [--user U]
    chatkit-backend threads show THREAD --user U
    chatkit-backend threads export --user U [THREAD...] [-o FILE] [--with-files]   # JSON lines
    chatkit-backend threads import FILE [--user U]
    chatkit-backend threads delete THREAD... --user U [--yes]
    chatkit-backend threads lock|close THREAD [--reason TEXT]    # no new messages
    chatkit-backend threads reopen THREAD

They open the store from the settings (``--database-url``/``--data-dir`` override them),
not a running server, so they work while it is down.
"""

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

import typer
from chatkit.store import NotFoundError as StoreNotFoundError
from chatkit.types import ThreadMetadata
from rich.table import Table

from chatkit_backend.cli import thread_status, threads_import
from chatkit_backend.cli.admin import (
    DatabaseUrlOption,
    DataDirOption,
    admin_settings,
    delete_thread,
    opened_attachments,
    opened_store,
    owned_threads,
)
from chatkit_backend.cli.chat import describe_item
from chatkit_backend.cli.output import (
    JsonOption,
    escape,
    fail,
    print_json,
    print_table,
    progress,
    stdout_console,
)
from chatkit_backend.cli.output import run as run_async
from chatkit_backend.context import RequestContext
from chatkit_backend.settings import Settings
from chatkit_backend.stores import BackendStore
from chatkit_backend.transfer.files import AttachmentFiles
from chatkit_backend.transfer.records import ThreadRecord, dump_record
from chatkit_backend.transfer.threads import all_items, export_record

app = typer.Typer(
    help="List, show, export, import, delete, lock, close and reopen threads in the store.",
    no_args_is_help=True,
)

UserOption = typer.Option(..., "--user", "-u", help="The user who owns the threads.")


def _thread_row(user_id: str, thread: ThreadMetadata) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "id": thread.id,
        "title": thread.title,
        "created_at": thread.created_at,
        "status": thread.status.type,
    }


async def _load_owned(store: BackendStore, user_id: str, thread_id: str) -> ThreadMetadata:
    try:
        return await store.load_thread(thread_id, RequestContext(user_id=user_id))
    except StoreNotFoundError:
        fail(f"thread {thread_id} not found for user {user_id}")


@app.command("list")
def list_threads(
    user: str | None = typer.Option(
        None, "--user", "-u", help="Only this user's threads. Default: every user's."
    ),
    limit: int = typer.Option(
        50, "--limit", min=1, help="Show at most this many threads, newest first."
    ),
    database_url: str | None = DatabaseUrlOption,
    data_dir: Path | None = DataDirOption,
    as_json: bool = JsonOption,
) -> None:
    """List threads, newest first, with their owners."""
    settings = admin_settings(database_url, data_dir)

    async def work() -> list[dict[str, Any]]:
        async with opened_store(settings) as store:
            owned = await store.admin_list_threads(user, limit=limit)
        return [_thread_row(row.user_id, row.thread) for row in owned]

    rows = run_async(work())
    if as_json:
        print_json(rows)
        return
    out = stdout_console()
    if not rows:
        out.print("No threads." if user is None else f"No threads for user {escape(user)}.")
        return
    table = Table("user", "thread", "title", "created (UTC)", "status", box=None, pad_edge=False)
    for column in (table.columns[1], table.columns[3], table.columns[4]):
        column.no_wrap = True  # a narrow terminal wraps titles, never an id to copy
    for row in rows:
        table.add_row(
            escape(row["user_id"]),
            row["id"],
            escape(row["title"] or "(untitled)"),
            row["created_at"].strftime("%Y-%m-%d %H:%M"),
            row["status"],
        )
    print_table(table)
    if len(rows) == limit:
        out.print(f"[dim](the {limit} newest; --limit shows more)[/]")


@app.command("show")
def show_thread(
    thread_id: str = typer.Argument(..., help="The thread's id."),
    user: str = UserOption,
    database_url: str | None = DatabaseUrlOption,
    data_dir: Path | None = DataDirOption,
    as_json: bool = JsonOption,
) -> None:
    """Show a thread and its messages."""
    settings = admin_settings(database_url, data_dir)

    async def work() -> tuple[ThreadMetadata, list[Any]]:
        async with opened_store(settings) as store:
            thread = await _load_owned(store, user, thread_id)
            return thread, await all_items(store, thread_id, RequestContext(user_id=user))

    thread, items = run_async(work())
    if as_json:
        print_json({"user_id": user, "thread": thread, "items": items})
        return
    out = stdout_console()
    out.print(f"[bold]{escape(thread.title or '(untitled)')}[/]  {thread.id}")
    out.print(
        f"[dim]user {escape(user)}, created {thread.created_at:%Y-%m-%d %H:%M} UTC, {len(items)} items[/]"
    )
    for item in items:
        line = describe_item(item)
        if line:
            out.print(line)


@app.command("export")
def export_threads(
    thread_ids: list[str] | None = typer.Argument(
        None, help="Threads to export. Default: every thread of the user.", show_default=False
    ),
    user: str = UserOption,
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write to this file instead of stdout."
    ),
    with_files: bool = typer.Option(
        False, "--with-files", help="Also write the attachments' bytes (base64) into each line."
    ),
    database_url: str | None = DatabaseUrlOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Export threads as JSON lines, one thread per line, for backups and `threads import`."""
    settings = admin_settings(database_url, data_dir)
    stream: TextIO = output.open("w", encoding="utf-8") if output else sys.stdout
    show = output is not None and sys.stderr.isatty()
    try:
        count = run_async(_export(settings, user, thread_ids or [], stream, show, with_files))
    finally:
        if output:
            stream.close()
    if output:
        stdout_console().print(
            f"Exported {count} thread{'s' if count != 1 else ''} to {escape(str(output))}."
        )


async def _export(
    settings: Any,
    user: str,
    thread_ids: list[str],
    stream: TextIO,
    show: bool,
    with_files: bool = False,
) -> int:
    count = 0
    async with opened_store(settings) as store, _attachment_files(settings, with_files) as files:
        with progress("exporting", enabled=show, stderr=True) as steps:
            if thread_ids:
                steps.total(len(thread_ids))
                for thread_id in thread_ids:
                    thread = await _load_owned(store, user, thread_id)
                    _write_line(stream, await export_record(store, user, thread, files=files))
                    steps.advance()
                    count += 1
                return count
            async for batch in owned_threads(store, user):
                for owned in batch:
                    _write_line(stream, await export_record(store, user, owned.thread, files=files))
                    steps.advance()
                    count += 1
    return count


@asynccontextmanager
async def _attachment_files(
    settings: Settings, wanted: bool
) -> AsyncIterator[AttachmentFiles | None]:
    """The deployment's attachment storage when ``wanted`` (closed after)."""
    if not wanted:
        yield None
        return
    files = AttachmentFiles.at(settings)
    try:
        yield files
    finally:
        await files.aclose()


def _write_line(stream: TextIO, record: ThreadRecord) -> None:
    """One record per line, every field kept (``threads import`` restores it exactly)."""
    stream.write(dump_record(record) + "\n")


app.command("import")(threads_import.import_threads)
thread_status.register(app)  # lock, close, reopen


@app.command("delete")
def delete_threads(
    thread_ids: list[str] = typer.Argument(..., help="Threads to delete."),
    user: str = UserOption,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    database_url: str | None = DatabaseUrlOption,
    data_dir: Path | None = DataDirOption,
    as_json: bool = JsonOption,
) -> None:
    """Delete threads with their items, feedback and attachment files."""
    settings = admin_settings(database_url, data_dir)
    count = len(thread_ids)
    if not yes and not typer.confirm(
        f"Delete {count} thread{'s' if count != 1 else ''} of user {user} and their files?",
        err=True,
    ):
        fail("nothing deleted")

    async def work() -> list[dict[str, Any]]:
        async with opened_store(settings) as store, opened_attachments(settings, store) as files:
            for thread_id in thread_ids:
                await _load_owned(store, user, thread_id)  # all exist before any goes
            deleted = [
                await delete_thread(store, files, user, thread_id) for thread_id in thread_ids
            ]
        return [{"user_id": d.user_id, "thread_id": d.thread_id, "files": d.files} for d in deleted]

    deleted = run_async(work())
    if as_json:
        print_json({"deleted": deleted})
        return
    out = stdout_console()
    for row in deleted:
        out.print(
            f"Deleted {row['thread_id']} ({row['files']} attachment file{'s' if row['files'] != 1 else ''})."
        )
