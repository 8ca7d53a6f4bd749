"""A store's worth of data for the transfer tests, and a snapshot to compare stores by."""

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from chatkit.types import Attachment, FeedbackKind, ThreadItem, ThreadMetadata

from chatkit_backend.context import RequestContext
from chatkit_backend.settings import Settings
from chatkit_backend.stores import BackendStore, open_store
from chatkit_backend.stores.base import as_utc
from chatkit_backend.transfer.files import AttachmentFiles
from chatkit_backend.transfer.threads import all_items
from tests.stores.samples import (
    T0,
    every_item_type,
    file_attachment,
    image_attachment,
    locked_thread,
    message,
    thread,
)

USERS = ("alice", "bob")
FILE_BYTES = b"notes of alice\n"
IMAGE_BYTES = b"\x89PNG\r\n\x1a\n fake image bytes"


@dataclass
class ThreadState:
    thread: ThreadMetadata
    items: list[ThreadItem]
    attachments: list[Attachment]
    feedback: list[tuple[tuple[str, ...], str, datetime]]


async def seed(store: BackendStore, files: AttachmentFiles | None = None) -> None:
    """Alice: a locked thread holding every item type with two attachments (their bytes in
    ``files``) and three feedback rows (two alike), and a plain thread. Bob: one thread."""
    alice, bob = RequestContext(user_id="alice"), RequestContext(user_id="bob")
    await store.save_thread(locked_thread("thr_all"), alice)
    await store.add_thread_items("thr_all", every_item_type("thr_all"), alice)
    for attachment, data in (
        (file_attachment("atc_f", "thr_all"), FILE_BYTES),
        (image_attachment("atc_i", "thr_all"), IMAGE_BYTES),
    ):
        await store.save_attachment(attachment, alice)
        if files is not None:
            assert await files.write("alice", attachment.id, data, attachment.mime_type) == "copied"
    rows: list[tuple[int, list[str], FeedbackKind]] = [
        (1, ["msg_assistant"], "positive"),
        (2, ["msg_assistant"], "positive"),
        (3, ["msg_user", "msg_assistant"], "negative"),
    ]
    for offset, ids, kind in rows:
        at = as_utc(T0) + timedelta(minutes=offset)
        await store.restore_feedback("thr_all", ids, kind, at, alice)
    await store.save_thread(thread("thr_plain", T0 + timedelta(days=1), title="Plain"), alice)
    await store.add_thread_items(
        "thr_plain",
        [message(f"msg_p{n}", "thr_plain", T0 + timedelta(seconds=n)) for n in range(3)],
        alice,
    )
    await store.save_thread(thread("thr_bob", T0 + timedelta(days=2)), bob)
    await store.add_thread_items("thr_bob", [message("msg_b", "thr_bob")], bob)


async def snapshot(store: BackendStore, users: tuple[str, ...] = USERS) -> dict[str, Any]:
    """Everything the users have, thread by thread, in comparable form."""
    state: dict[str, Any] = {}
    for user in users:
        context = RequestContext(user_id=user)
        for owned in await store.admin_list_threads(user, limit=1000):
            thread_id = owned.thread.id
            state[f"{user}/{thread_id}"] = ThreadState(
                thread=owned.thread,
                items=await all_items(store, thread_id, context),
                attachments=await store.admin_thread_attachments(user, thread_id),
                feedback=[
                    (tuple(row.item_ids), row.kind, as_utc(row.created_at))
                    for row in await store.load_feedback(thread_id, context)
                ],
            )
    return state


def settings_in(data_dir: Path) -> Settings:
    values: dict[str, Any] = {"data_dir": data_dir}
    return Settings(**values)


def files_in(folder: Path) -> AttachmentFiles:
    """The attachment storage in the folder ``folder``."""
    return AttachmentFiles.at(settings_in(folder.parent), folder)


def file_bytes(folder: Path, attachments: list[Attachment]) -> dict[str, bytes | None]:
    """The bytes of alice's ``attachments`` in the attachments folder ``folder``."""

    async def read() -> dict[str, bytes | None]:
        files = files_in(folder)
        try:
            return {a.id: await files.read("alice", a) for a in attachments}
        finally:
            await files.aclose()

    return asyncio.run(read())


def seeded_deployment(folder: Path, url: str | None = None) -> str:
    """A deployment in ``folder`` (its store at ``url``, default SQLite there) with the seed."""
    store_url = url or f"sqlite:///{folder}/chat.db"

    async def fill() -> None:
        store = open_store(store_url, auto_upgrade=True)
        files = files_in(folder / "attachments")
        try:
            await seed(store, files)
        finally:
            await files.aclose()
            await store.close()

    asyncio.run(fill())
    return store_url


def snapshot_of(url: str, *, upgrade: bool = True) -> dict[str, Any]:
    """``snapshot`` of the store at ``url`` (migrated first unless ``upgrade`` is off)."""

    async def read() -> dict[str, Any]:
        store = open_store(url, auto_upgrade=upgrade)
        try:
            return await snapshot(store)
        finally:
            await store.close()

    return asyncio.run(read())
