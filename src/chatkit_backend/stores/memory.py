"""``MemoryStore``: the store for tests and demos; same semantics as ``SQLStore``, no disk.

Rows are kept as JSON (what the SQL store keeps), so a loaded model is a fresh copy that
callers may change freely, and equality holds exactly as with a database. Each thread's
items and each user's threads sit in a list sorted by ``(created_at, id)``: a page is a
dictionary lookup for the cursor, a binary search and a slice, whatever the size.
Every method runs without awaiting in between, so each call is atomic on the event loop.
"""

import bisect
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from chatkit.types import Attachment, FeedbackKind, Page, ThreadItem, ThreadMetadata

from chatkit_backend.stores import codec
from chatkit_backend.stores.base import (
    BackendStore,
    Feedback,
    OwnedAttachment,
    OwnedThread,
    as_utc,
    check_feedback_kind,
    check_page_request,
    owner_of,
)
from chatkit_backend.stores.errors import InvalidPageError, StoreNotFoundError
from chatkit_backend.stores.thread_updates import ThreadUpdate
from chatkit_backend.stores.usage import FeedbackQuery, UsageQuery, UsageRecord, UsageTotal, add_up

Key = tuple[datetime, str]


@dataclass(slots=True)
class SortedRows:
    """Rows by id, with their keys in a sorted list for keyset pages."""

    keys: list[Key] = field(default_factory=list)
    rows: dict[str, tuple[Key, str]] = field(default_factory=dict)

    def put(self, row_id: str, created_at: datetime, data: str) -> None:
        key = (as_utc(created_at), row_id)
        old = self.rows.get(row_id)
        if old is not None and old[0] != key:
            del self.keys[bisect.bisect_left(self.keys, old[0])]
            bisect.insort(self.keys, key)
        elif old is None:
            bisect.insort(self.keys, key)
        self.rows[row_id] = (key, data)

    def remove(self, row_id: str) -> None:
        old = self.rows.pop(row_id, None)
        if old is not None:
            del self.keys[bisect.bisect_left(self.keys, old[0])]

    def window(
        self, after: str | None, limit: int, order: Literal["asc", "desc"] | str
    ) -> list[Key]:
        """Keys of up to ``limit + 1`` rows after the cursor row, in ``order``."""
        keys = self.keys
        if order == "asc":
            start = 0 if after is None else bisect.bisect_right(keys, self.rows[after][0])
            return keys[start : start + limit + 1]
        end = len(keys) if after is None else bisect.bisect_left(keys, self.rows[after][0])
        return keys[max(0, end - limit - 1) : end][::-1]

    def page(
        self, after: str | None, limit: int, order: Literal["asc", "desc"] | str
    ) -> tuple[list[str], bool]:
        """Data of up to ``limit`` rows after the cursor row, and whether more follow."""
        window = self.window(after, limit, order)
        return [self.rows[key[1]][1] for key in window[:limit]], len(window) > limit


@dataclass(slots=True)
class _Thread:
    user_id: str
    created_at: datetime
    data: str
    items: SortedRows = field(default_factory=SortedRows)
    feedback: list[Feedback] = field(default_factory=list)


@dataclass(slots=True)
class _Attachment:
    user_id: str
    thread_id: str | None
    created_at: datetime
    data: str


class MemoryStore(BackendStore):
    """Threads, items and attachments in this process's memory; gone on restart."""

    kind = "memory"

    def __init__(self) -> None:
        self._threads: dict[str, _Thread] = {}
        self._user_threads: dict[str, SortedRows] = {}
        self._attachments: dict[str, _Attachment] = {}
        self._usage: list[UsageRecord] = []

    def __repr__(self) -> str:
        return "MemoryStore()"

    async def ping(self) -> None:
        return None

    # -- helpers ----------------------------------------------------------------------
    def _owned(self, thread_id: str, user_id: str) -> _Thread | None:
        thread = self._threads.get(thread_id)
        return thread if thread is not None and thread.user_id == user_id else None

    def _require(self, thread_id: str, user_id: str) -> _Thread:
        thread = self._owned(thread_id, user_id)
        if thread is None:
            raise StoreNotFoundError(f"thread {thread_id!r} not found")
        return thread

    @staticmethod
    def _to_page(data: list[str], has_more: bool, parse: Any) -> Page[Any]:
        rows = [parse(row) for row in data]
        # The rows are validated models already: build the page without validating again.
        return Page.model_construct(
            data=rows, has_more=has_more, after=rows[-1].id if has_more else None
        )

    # -- threads ----------------------------------------------------------------------
    async def load_thread(self, thread_id: str, context: Any) -> ThreadMetadata:
        return codec.load_thread(self._require(thread_id, owner_of(context)).data)

    async def save_thread(self, thread: ThreadMetadata, context: Any) -> None:
        user_id = owner_of(context)
        data = codec.dump_thread(thread)
        existing = self._threads.get(thread.id)
        if existing is not None and existing.user_id != user_id:
            raise StoreNotFoundError(f"thread {thread.id!r} not found")
        if existing is None:
            existing = self._threads[thread.id] = _Thread(user_id, thread.created_at, data)
        existing.created_at, existing.data = thread.created_at, data
        self._user_threads.setdefault(user_id, SortedRows()).put(thread.id, thread.created_at, data)

    async def update_thread(
        self, thread_id: str, update: ThreadUpdate, context: Any
    ) -> ThreadMetadata:
        user_id = owner_of(context)
        row = self._require(thread_id, user_id)
        updated = update.apply(codec.load_thread(row.data))
        row.data = codec.dump_thread(updated)
        self._user_threads[user_id].put(thread_id, row.created_at, row.data)
        return updated

    async def admin_thread_owner(self, thread_id: str) -> str | None:
        row = self._threads.get(thread_id)
        return row.user_id if row is not None else None

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: Any
    ) -> Page[ThreadMetadata]:
        check_page_request(limit, order)
        rows = self._user_threads.get(owner_of(context), SortedRows())
        if after is not None and after not in rows.rows:
            raise InvalidPageError(f"after: no thread {after!r} to continue from")
        data, has_more = rows.page(after, limit, order)
        return self._to_page(data, has_more, codec.load_thread)

    async def load_threads_json(
        self, limit: int, after: str | None, order: str, context: Any
    ) -> bytes:
        check_page_request(limit, order)
        rows = self._user_threads.get(owner_of(context), SortedRows())
        if after is not None and after not in rows.rows:
            raise InvalidPageError(f"after: no thread {after!r} to continue from")
        window = rows.window(after, limit, order)
        has_more = len(window) > limit
        return codec.thread_list_json(
            [codec.thread_list_row(rows.rows[key[1]][1]) for key in window[:limit]],
            has_more,
            window[limit - 1][1] if has_more else None,
        )

    async def delete_thread(self, thread_id: str, context: Any) -> None:
        user_id = owner_of(context)
        if self._owned(thread_id, user_id) is None:
            return
        del self._threads[thread_id]
        self._user_threads[user_id].remove(thread_id)
        for attachment_id in [
            key for key, row in self._attachments.items() if row.thread_id == thread_id
        ]:
            del self._attachments[attachment_id]

    # -- items ------------------------------------------------------------------------
    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: Any
    ) -> Page[ThreadItem]:
        check_page_request(limit, order)
        thread = self._owned(thread_id, owner_of(context))
        if thread is None:  # missing, or another user's: no items (the SDK's contract)
            return Page.model_construct(data=[], has_more=False, after=None)
        if after is not None and after not in thread.items.rows:
            raise InvalidPageError(f"after: no item {after!r} in thread {thread_id!r}")
        data, has_more = thread.items.page(after, limit, order)
        return self._to_page(data, has_more, codec.load_item)

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        thread = self._require(thread_id, owner_of(context))
        thread.items.put(item.id, item.created_at, codec.dump_item(item))

    async def add_thread_items(self, thread_id: str, items: list[ThreadItem], context: Any) -> None:
        rows = self._require(thread_id, owner_of(context)).items
        added = {
            item.id: ((as_utc(item.created_at), item.id), codec.dump_item(item)) for item in items
        }
        for item_id in added.keys() & rows.rows.keys():
            rows.remove(item_id)
        rows.rows.update(added)
        rows.keys.extend(key for key, _ in added.values())
        rows.keys.sort()

    async def save_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        await self.add_thread_item(thread_id, item, context)

    async def load_item(self, thread_id: str, item_id: str, context: Any) -> ThreadItem:
        thread = self._owned(thread_id, owner_of(context))
        row = thread.items.rows.get(item_id) if thread is not None else None
        if row is None:
            raise StoreNotFoundError(f"item {item_id!r} not found in thread {thread_id!r}")
        return codec.load_item(row[1])

    async def delete_thread_item(self, thread_id: str, item_id: str, context: Any) -> None:
        thread = self._owned(thread_id, owner_of(context))
        if thread is not None:
            thread.items.remove(item_id)

    # -- attachments ------------------------------------------------------------------
    async def save_attachment(self, attachment: Attachment, context: Any) -> None:
        user_id = owner_of(context)
        if attachment.thread_id is not None:
            self._require(attachment.thread_id, user_id)
        existing = self._attachments.get(attachment.id)
        if existing is not None and existing.user_id != user_id:
            raise StoreNotFoundError(f"attachment {attachment.id!r} not found")
        created_at = existing.created_at if existing is not None else datetime.now(UTC)
        self._attachments[attachment.id] = _Attachment(
            user_id, attachment.thread_id, created_at, codec.dump_attachment(attachment)
        )

    async def load_attachment(self, attachment_id: str, context: Any) -> Attachment:
        row = self._attachments.get(attachment_id)
        if row is None or row.user_id != owner_of(context):
            raise StoreNotFoundError(f"attachment {attachment_id!r} not found")
        return codec.load_attachment(row.data)

    async def delete_attachment(self, attachment_id: str, context: Any) -> None:
        row = self._attachments.get(attachment_id)
        if row is not None and row.user_id == owner_of(context):
            del self._attachments[attachment_id]

    # -- feedback ---------------------------------------------------------------------
    async def save_feedback(
        self, thread_id: str, item_ids: list[str], kind: FeedbackKind, context: Any
    ) -> None:
        check_feedback_kind(kind)
        user_id = owner_of(context)
        thread = self._require(thread_id, user_id)
        missing = sorted(set(item_ids) - thread.items.rows.keys())
        if missing:
            raise StoreNotFoundError(f"item {missing[0]!r} not found in thread {thread_id!r}")
        thread.feedback.append(
            Feedback(thread_id, list(item_ids), kind, user_id, datetime.now(UTC))
        )

    async def restore_feedback(
        self,
        thread_id: str,
        item_ids: list[str],
        kind: FeedbackKind,
        created_at: datetime,
        context: Any,
    ) -> None:
        check_feedback_kind(kind)
        user_id = owner_of(context)
        thread = self._require(thread_id, user_id)
        missing = sorted(set(item_ids) - thread.items.rows.keys())
        if missing:
            raise StoreNotFoundError(f"item {missing[0]!r} not found in thread {thread_id!r}")
        thread.feedback.append(Feedback(thread_id, list(item_ids), kind, user_id, created_at))
        thread.feedback.sort(key=lambda row: as_utc(row.created_at))

    async def load_feedback(self, thread_id: str, context: Any) -> list[Feedback]:
        thread = self._require(thread_id, owner_of(context))
        return [
            Feedback(row.thread_id, list(row.item_ids), row.kind, row.user_id, row.created_at)
            for row in thread.feedback
        ]

    # -- admin ------------------------------------------------------------------------
    async def admin_list_threads(
        self, user_id: str | None, *, limit: int = 100, created_before: datetime | None = None
    ) -> list[OwnedThread]:
        check_page_request(limit, "desc")
        cutoff = as_utc(created_before) if created_before is not None else None
        rows = sorted(
            (
                (as_utc(thread.created_at), thread_id, thread)
                for thread_id, thread in self._threads.items()
                if (user_id is None or thread.user_id == user_id)
                and (cutoff is None or as_utc(thread.created_at) < cutoff)
            ),
            key=lambda row: (row[0], row[1]),
            reverse=True,
        )
        return [
            OwnedThread(user_id=thread.user_id, thread=codec.load_thread(thread.data))
            for _, _, thread in rows[:limit]
        ]

    async def admin_stale_attachments(self, created_before: datetime) -> list[OwnedAttachment]:
        cutoff = as_utc(created_before)
        rows = sorted(
            (
                (row.created_at, attachment_id, row)
                for attachment_id, row in self._attachments.items()
                if row.thread_id is None and row.created_at < cutoff
            ),
            key=lambda entry: (entry[0], entry[1]),
        )
        return [
            OwnedAttachment(row.user_id, codec.load_attachment(row.data), row.created_at)
            for _, _, row in rows
        ]

    async def admin_thread_attachments(self, user_id: str, thread_id: str) -> list[Attachment]:
        rows = sorted(
            (
                (row.created_at, attachment_id, row)
                for attachment_id, row in self._attachments.items()
                if row.thread_id == thread_id and row.user_id == user_id
            ),
            key=lambda entry: (entry[0], entry[1]),
        )
        return [codec.load_attachment(row.data) for _, _, row in rows]

    async def admin_feedback(self, query: FeedbackQuery) -> list[Feedback]:
        since = as_utc(query.since) if query.since is not None else None
        rows = sorted(
            (
                row
                for thread in self._threads.values()
                if query.user_id is None or thread.user_id == query.user_id
                for row in thread.feedback
                if (query.kind is None or row.kind == query.kind)
                and (since is None or as_utc(row.created_at) >= since)
            ),
            key=lambda row: as_utc(row.created_at),
        )
        return [
            Feedback(row.thread_id, list(row.item_ids), row.kind, row.user_id, row.created_at)
            for row in rows[: query.limit]
        ]

    # -- usage ------------------------------------------------------------------------
    async def save_usage(self, record: UsageRecord) -> None:
        self._usage.append(record)

    async def admin_usage(self, query: UsageQuery) -> list[UsageTotal]:
        return add_up(self._usage, query)
