"""Threads to records and back: what ``threads export`` writes and ``threads import`` reads.

``sdk_store_records`` reads records out of any ``chatkit.store.Store`` (the SDK samples'
stores, your own), for moving their threads here with ``threads import``.

``export_record`` gathers a thread with its items, attachment rows, feedback and (when
given the attachment files) the files' bytes. ``import_record`` writes one back through
the store's public methods, as its owner: the thread and items are upserted (the
record's version wins for what it holds; other items of the thread stay), attachment
rows are upserted, feedback the thread already has is not added twice, and files are
written only where none is. So importing the same file twice changes nothing the second
time.
"""

from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from chatkit.store import NotFoundError as SDKNotFoundError
from chatkit.store import Store
from chatkit.types import Attachment, ThreadItem, ThreadMetadata, UserMessageItem

from chatkit_backend.context import RequestContext
from chatkit_backend.stores.base import BackendStore
from chatkit_backend.transfer.errors import TransferError
from chatkit_backend.transfer.files import AttachmentFiles
from chatkit_backend.transfer.records import FeedbackRecord, ThreadRecord

PAGE = 500


async def all_items(
    store: Store[Any], thread_id: str, context: Any, page_size: int = PAGE
) -> list[ThreadItem]:
    """Every item of a thread, oldest first, read ``page_size`` at a time (any SDK store)."""
    items: list[ThreadItem] = []
    after: str | None = None
    while True:
        page = await store.load_thread_items(thread_id, after, page_size, "asc", context)
        items.extend(page.data)
        if not page.has_more or page.after is None:
            return items
        after = page.after


async def export_record(
    store: BackendStore,
    user_id: str,
    thread: ThreadMetadata,
    *,
    files: AttachmentFiles | None = None,
) -> ThreadRecord:
    """The record of one of ``user_id``'s threads; with ``files``, the attachments' bytes too."""
    context = RequestContext(user_id=user_id)
    attachments = await store.admin_thread_attachments(user_id, thread.id)
    feedback = await store.load_feedback(thread.id, context)
    contents: dict[str, bytes] = {}
    if files is not None:
        for attachment in attachments:
            data = await files.read(user_id, attachment)
            if data is not None:
                contents[attachment.id] = data
    return ThreadRecord(
        user_id=user_id,
        thread=thread,
        items=await all_items(store, thread.id, context),
        attachments=attachments,
        feedback=[
            FeedbackRecord(item_ids=row.item_ids, kind=row.kind, created_at=row.created_at)
            for row in feedback
        ],
        files=contents,
    )


@dataclass(frozen=True, slots=True)
class RecordImported:
    """What importing one record wrote."""

    user_id: str
    thread_id: str
    created: bool
    items: int
    attachments: int
    feedback: int
    files: int


async def import_record(
    store: BackendStore,
    record: ThreadRecord,
    *,
    user_id: str | None = None,
    files: AttachmentFiles | None = None,
) -> RecordImported:
    """Write a record into ``store``, owned by ``user_id`` (default: the record's owner).

    Raises ``TransferError`` when another user already owns a thread with that id.
    Files are written only when ``files`` is given and the record holds them.
    """
    owner = user_id or record.user_id
    context = RequestContext(user_id=owner)
    thread_id = record.thread.id
    created = not await _exists(store, thread_id, context)
    try:
        await store.save_thread(record.thread, context)
    except SDKNotFoundError:
        raise TransferError(
            f"thread {thread_id}: another user already owns a thread with this id in the "
            "target store; nothing of it was imported"
        ) from None
    await store.add_thread_items(thread_id, list(record.items), context)
    for attachment in record.attachments:
        await store.save_attachment(attachment, context)
    feedback = await _restore_feedback(store, thread_id, record.feedback, context)
    written = 0
    if files is not None:
        types = {attachment.id: attachment.mime_type for attachment in record.attachments}
        for attachment_id, data in record.files.items():
            mime_type = types.get(attachment_id, "application/octet-stream")
            written += await files.write(owner, attachment_id, data, mime_type) == "copied"
    return RecordImported(
        owner, thread_id, created, len(record.items), len(record.attachments), feedback, written
    )


async def _exists(store: BackendStore, thread_id: str, context: RequestContext) -> bool:
    try:
        await store.load_thread(thread_id, context)
    except SDKNotFoundError:
        return False
    return True


async def _restore_feedback(
    store: BackendStore, thread_id: str, rows: list[FeedbackRecord], context: RequestContext
) -> int:
    """Add the feedback the thread lacks: each (items, kind) as often as the record has it."""
    if not rows:
        return 0
    have = Counter(
        (tuple(row.item_ids), row.kind) for row in await store.load_feedback(thread_id, context)
    )
    added = 0
    for row in rows:
        key = (tuple(row.item_ids), row.kind)
        if have[key] > 0:
            have[key] -= 1
            continue
        await store.restore_feedback(thread_id, row.item_ids, row.kind, row.created_at, context)
        added += 1
    return added


async def sdk_store_records(
    store: Store[Any],
    context: Any,
    owner: str | Callable[[ThreadMetadata], str],
    *,
    page_size: int = 100,
) -> AsyncIterator[ThreadRecord]:
    """Every thread ``store`` lists for ``context``, oldest first, as records owned by
    ``owner`` (a user id, or a function of the thread).

    Uses only the SDK's ``Store`` methods: ``load_threads``, ``load_thread_items`` and
    ``load_attachment``. The attachments are those the user messages hold, read from the
    store where it keeps them (else as the message holds them); their bytes are not read.
    Feedback is not part of the SDK's store, so records hold none.
    """
    after: str | None = None
    while True:
        page = await store.load_threads(page_size, after, "asc", context)
        for thread in page.data:
            items = await all_items(store, thread.id, context, page_size)
            yield ThreadRecord(
                user_id=owner if isinstance(owner, str) else owner(thread),
                thread=ThreadMetadata.model_validate(thread.model_dump(exclude={"items"})),
                items=items,
                attachments=await _sdk_attachments(store, items, context),
            )
        if not page.has_more or page.after is None:
            return
        after = page.after


async def _sdk_attachments(
    store: Store[Any], items: list[ThreadItem], context: Any
) -> list[Attachment]:
    found: dict[str, Attachment] = {}
    for item in items:
        if not isinstance(item, UserMessageItem):
            continue
        for held in item.attachments:
            if held.id in found:
                continue
            try:
                found[held.id] = await store.load_attachment(held.id, context)
            except (SDKNotFoundError, NotImplementedError):  # the samples keep none
                found[held.id] = held
    return list(found.values())
