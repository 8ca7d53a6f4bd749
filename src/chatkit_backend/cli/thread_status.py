"""``chatkit-backend threads lock|close|reopen``: set a thread's status in the store.

    chatkit-backend threads lock THREAD [--reason TEXT] [--user U]
    chatkit-backend threads close THREAD [--reason TEXT] [--user U]
    chatkit-backend threads reopen THREAD [--user U]

A locked or closed thread takes no new messages, retries, client tool outputs or widget
actions (409 ``thread_locked``/``thread_closed``, the reason in the message); ChatKit
shows it with the composer disabled. Reading, renaming and deleting it still work.
``reopen`` makes it active again. Only the status is written (``set_thread_status``), so
a reply streaming meanwhile keeps its title and the thread its metadata. Without
``--user`` the thread is found whoever owns it.
"""

from pathlib import Path
from typing import Any

import typer
from chatkit.types import ActiveStatus, ClosedStatus, LockedStatus, ThreadMetadata

from chatkit_backend.cli.admin import DatabaseUrlOption, DataDirOption, admin_settings, opened_store
from chatkit_backend.cli.output import JsonOption, escape, fail, print_json, stdout_console
from chatkit_backend.cli.output import run as run_async
from chatkit_backend.context import RequestContext
from chatkit_backend.settings import Settings
from chatkit_backend.stores import BackendStore, StoreNotFoundError

ThreadArgument = typer.Argument(..., help="The thread's id.")
ReasonOption = typer.Option(
    None, "--reason", "-r", help="Why; the 409 answer to new messages says it."
)
OwnerOption = typer.Option(
    None, "--user", "-u", help="The thread's owner. Default: whoever owns it."
)
Status = ActiveStatus | LockedStatus | ClosedStatus


def lock_thread(
    thread_id: str = ThreadArgument,
    reason: str | None = ReasonOption,
    user: str | None = OwnerOption,
    database_url: str | None = DatabaseUrlOption,
    data_dir: Path | None = DataDirOption,
    as_json: bool = JsonOption,
) -> None:
    """Lock a thread: it takes no new messages until it is reopened."""
    settings = admin_settings(database_url, data_dir)
    _set(settings, thread_id, user, LockedStatus(reason=_reason(reason)), "Locked", as_json)


def close_thread(
    thread_id: str = ThreadArgument,
    reason: str | None = ReasonOption,
    user: str | None = OwnerOption,
    database_url: str | None = DatabaseUrlOption,
    data_dir: Path | None = DataDirOption,
    as_json: bool = JsonOption,
) -> None:
    """Close a thread: it takes no new messages (it can still be read, renamed, deleted)."""
    settings = admin_settings(database_url, data_dir)
    _set(settings, thread_id, user, ClosedStatus(reason=_reason(reason)), "Closed", as_json)


def reopen_thread(
    thread_id: str = ThreadArgument,
    user: str | None = OwnerOption,
    database_url: str | None = DatabaseUrlOption,
    data_dir: Path | None = DataDirOption,
    as_json: bool = JsonOption,
) -> None:
    """Reopen a locked or closed thread: it takes messages again."""
    settings = admin_settings(database_url, data_dir)
    _set(settings, thread_id, user, ActiveStatus(), "Reopened", as_json)


def _reason(reason: str | None) -> str | None:
    return reason.strip() or None if reason is not None else None


def _set(
    settings: Settings,
    thread_id: str,
    user: str | None,
    status: Status,
    done: str,
    as_json: bool,
) -> None:
    async def work() -> tuple[str, ThreadMetadata]:
        async with opened_store(settings) as store:
            owner = await _owner(store, thread_id, user)
            try:
                thread = await store.set_thread_status(
                    thread_id, status, RequestContext(user_id=owner)
                )
            except StoreNotFoundError:  # deleted a moment ago
                fail(f"thread {thread_id} not found")
            return owner, thread

    owner, thread = run_async(work())
    if as_json:
        print_json({"user_id": owner, "id": thread.id, "status": thread.status})
        return
    line = f"{done} {thread.id} (user {escape(owner)})"
    reason = getattr(thread.status, "reason", None)
    stdout_console().print(f"{line}: {escape(reason)}." if reason else f"{line}.")


async def _owner(store: BackendStore, thread_id: str, user: str | None) -> str:
    """The owner: ``user`` when it owns the thread, else whoever does (exit 1 if nobody)."""
    if user is not None:
        try:
            await store.load_thread(thread_id, RequestContext(user_id=user))
        except StoreNotFoundError:
            fail(f"thread {thread_id} not found for user {user}")
        return user
    owner = await store.admin_thread_owner(thread_id)
    if owner is None:
        fail(f"thread {thread_id} not found")
    return owner


def register(app: Any) -> None:
    """Add the three commands to the ``threads`` group."""
    app.command("lock")(lock_thread)
    app.command("close")(close_thread)
    app.command("reopen")(reopen_thread)
