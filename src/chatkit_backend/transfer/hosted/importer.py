"""Copy hosted ChatKit threads into a store: only what is missing, resumable, counted.

For each hosted thread (oldest first) the importer creates the thread, owned by the
mapped user, with its title, status and ``created_at``, then pages through its items in
order and writes each page with ``add_thread_items``. After each page it records the
last hosted item it has seen in the thread's metadata (``hosted_chatkit.last_item_id``),
so an interrupted run, run again, continues after it; items already in the store (by
id) are never written twice. Hosted times are whole seconds: items that share a second
get microsecond offsets, so the store keeps their hosted order.

Errors: a refused key stops the run (``HostedAPIError``). 429s and 5xx are retried by
the ``openai`` client (``max_retries``, exponential backoff honouring ``Retry-After``);
when they persist, or the connection fails, the run stops and ``ImportSummary.interrupted``
says why: what was copied stays, and the next run resumes. A thread gone from the hosted
side, or one another user owns in the store, is counted as failed and the run goes on.
"""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import openai
from chatkit.store import NotFoundError as SDKNotFoundError
from chatkit.types import Attachment, ThreadItem, ThreadMetadata
from openai.types.beta.chatkit.chatkit_thread import ChatKitThread
from openai.types.beta.chatkit.chatkit_thread_user_message_item import (
    ChatKitThreadUserMessageItem,
)
from pydantic import ValidationError

from chatkit_backend.context import RequestContext
from chatkit_backend.stores.base import BackendStore, as_utc
from chatkit_backend.transfer.errors import HostedAPIError
from chatkit_backend.transfer.hosted.attachments import HostedAttachments
from chatkit_backend.transfer.hosted.convert import (
    HOSTED_METADATA,
    InvalidHostedItem,
    Unconvertible,
    convert_item,
    convert_thread,
    parsed,
    timestamp,
)
from chatkit_backend.transfer.progress import NoSteps, Steps
from chatkit_backend.transfer.threads import all_items

PAGE_SIZE = 100
CONCURRENCY = 4
TICK = timedelta(microseconds=1)


@dataclass
class ImportSummary:
    """What an import did (or, with ``dry_run``, would do)."""

    dry_run: bool = False
    threads_found: int = 0
    threads_new: int = 0
    threads_updated: int = 0
    threads_unchanged: int = 0
    threads_failed: int = 0
    items: Counter[str] = field(default_factory=Counter)
    """Items copied, by SDK item type."""
    items_present: int = 0
    """Items skipped because the store already holds them."""
    items_failed: int = 0
    unconvertible: Counter[str] = field(default_factory=Counter)
    """Hosted items of types this version cannot convert, by hosted type."""
    attachments_with_bytes: int = 0
    attachments_metadata_only: int = 0
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    interrupted: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failures and self.interrupted is None

    def as_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "threads": {
                "found": self.threads_found,
                "new": self.threads_new,
                "updated": self.threads_updated,
                "unchanged": self.threads_unchanged,
                "failed": self.threads_failed,
            },
            "items": dict(sorted(self.items.items())),
            "items_present": self.items_present,
            "items_failed": self.items_failed,
            "unconvertible": dict(sorted(self.unconvertible.items())),
            "attachments": {
                "with_bytes": self.attachments_with_bytes,
                "metadata_only": self.attachments_metadata_only,
            },
            "failures": self.failures,
            "warnings": self.warnings,
            "interrupted": self.interrupted,
        }


class _Stop(Exception):
    """The hosted API keeps failing: stop the run (what was copied stays)."""


class HostedImport:
    """One import run (see the module docstring)."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        store: BackendStore | None,
        attachments: HostedAttachments,
        *,
        user_map: dict[str, str] | None = None,
        summary: ImportSummary | None = None,
        page_size: int = PAGE_SIZE,
        concurrency: int = CONCURRENCY,
    ) -> None:
        """A dry run when ``summary.dry_run`` (a fresh summary: a real run). ``store`` None
        in a dry run: the target is empty, so everything would be copied."""
        self.client = client
        self.store = store
        self.attachments = attachments
        self.user_map = user_map or {}
        self.summary = summary or ImportSummary()
        self.dry_run = self.summary.dry_run
        self.page_size = page_size
        self.concurrency = concurrency

    # -- listing ------------------------------------------------------------------------
    async def list_threads(
        self, users: list[str] | None, since: datetime | None = None
    ) -> list[ChatKitThread]:
        """The hosted threads of ``users`` (None: every user), created at or after
        ``since``, oldest first. Raises ``HostedAPIError`` when the API refuses."""
        found: dict[str, ChatKitThread] = {}
        selected: list[str | None] = list(users) if users else [None]
        for user in selected:
            query: dict[str, Any] = {"order": "desc", "limit": self.page_size}
            if user is not None:
                query["user"] = user
            try:
                async for listed in self.client.beta.chatkit.threads.list(**query):
                    thread = self._valid(listed)
                    if thread is None:
                        continue
                    if since is not None and timestamp(thread.created_at) < as_utc(since):
                        break
                    found.setdefault(thread.id, thread)
            except openai.APIError as exc:
                raise HostedAPIError(f"listing hosted threads failed: {describe(exc)}") from None
        self.summary.threads_found = len(found)
        return sorted(found.values(), key=lambda thread: (thread.created_at, thread.id))

    # -- importing ----------------------------------------------------------------------
    async def run(self, threads: list[ChatKitThread], steps: Steps | None = None) -> ImportSummary:
        """Import ``threads``; returns the summary (also when the run was interrupted)."""
        steps = steps or NoSteps()
        steps.total(len(threads))
        queue: asyncio.Queue[ChatKitThread] = asyncio.Queue()
        for thread in threads:
            queue.put_nowait(thread)

        async def worker() -> None:
            while not queue.empty():
                thread = queue.get_nowait()
                await self.import_thread(thread)
                steps.advance()

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(max(1, min(self.concurrency, len(threads)))):
                    group.create_task(worker())
        except BaseExceptionGroup as failed:
            first = _first_leaf(failed)
            if not isinstance(first, _Stop):
                raise first from None
            self.summary.interrupted = str(first)
        return self.summary

    async def import_thread(self, hosted: ChatKitThread) -> None:
        """Import one thread: it, then the items it lacks. Failures are counted, not raised,
        except a refused key (``HostedAPIError``) and a failing API (stops the run)."""
        summary = self.summary
        valid = self._valid(hosted)
        if valid is None:
            return
        hosted = valid
        owner = self.user_map.get(hosted.user, hosted.user)
        context = RequestContext(user_id=owner)
        existing = await self._load(hosted.id, context)
        thread = existing or convert_thread(hosted)
        state = dict(thread.metadata.get(HOSTED_METADATA) or {})
        present: set[str] = set()
        last_at: datetime | None = None
        if existing is not None and self.store is not None:
            items = await self._recent_items(hosted.id, context, bool(state.get("last_item_id")))
            present = {item.id for item in items}
            last_at = max((as_utc(item.created_at) for item in items), default=None)
        else:
            if not self.dry_run and self.store is not None:
                try:
                    await self.store.save_thread(thread, context)
                except SDKNotFoundError:
                    summary.threads_failed += 1
                    summary.failures.append(
                        f"thread {hosted.id}: another user than {owner!r} already owns a "
                        "thread with this id in the store; skipped"
                    )
                    return
            summary.threads_new += 1
        copied = 0
        known: dict[str, Attachment] | None = None
        try:
            async for page in self._item_pages(hosted.id, state.get("last_item_id")):
                batch: list[ThreadItem] = []
                for raw in page:
                    if raw.id in present:
                        summary.items_present += 1
                        continue
                    if known is None:
                        known = await self.attachments.known(owner, hosted.id)
                    item = await self._convert(raw, hosted.id, context, known, state, last_at)
                    if item is not None:
                        last_at = as_utc(item.created_at)
                        present.add(item.id)
                        batch.append(item)
                if page:
                    state["last_item_id"] = page[-1].id
                await self._save_page(thread, state, batch, context)
                if batch and not copied and existing is not None:
                    summary.threads_updated += 1
                copied += len(batch)
        except _Gone:
            summary.threads_failed += 1
            summary.failures.append(f"thread {hosted.id}: gone from hosted ChatKit; skipped")
            return
        if existing is not None and not copied:
            summary.threads_unchanged += 1

    def _valid(self, hosted: ChatKitThread) -> ChatKitThread | None:
        """The thread validated (the client builds it without checking); None, counted as
        failed, when it is not a hosted thread."""
        try:
            return ChatKitThread.model_validate(hosted.model_dump(mode="json"))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            self.summary.threads_failed += 1
            self.summary.failures.append(
                f"thread {getattr(hosted, 'id', '?')}: not a hosted thread ({where}: {error['msg']})"
            )
            return None

    async def _recent_items(
        self, thread_id: str, context: RequestContext, resuming: bool
    ) -> list[ThreadItem]:
        """The items a rerun must not copy again. Resuming after a saved page, only the
        newest can be past it (a run stopped between a page's items and its resume point),
        so two pages of them are enough; otherwise every item. (Writing one twice would
        replace it, not duplicate it: this spares the work.)"""
        assert self.store is not None
        if not resuming:
            return await all_items(self.store, thread_id, context)
        page = await self.store.load_thread_items(
            thread_id, None, 2 * self.page_size, "desc", context
        )
        return list(page.data)

    async def _load(self, thread_id: str, context: RequestContext) -> ThreadMetadata | None:
        if self.store is None:
            return None
        try:
            return await self.store.load_thread(thread_id, context)
        except SDKNotFoundError:
            return None

    async def _convert(
        self,
        raw: Any,
        thread_id: str,
        context: RequestContext,
        known: dict[str, Attachment],
        state: dict[str, Any],
        last_at: datetime | None,
    ) -> ThreadItem | None:
        """The SDK item for one hosted item, its attachments brought in; None (counted)
        when it cannot be converted."""
        summary = self.summary
        try:
            hosted = parsed(raw)
        except Unconvertible as exc:
            summary.unconvertible[exc.item_type] += 1
            skipped = state.setdefault("unconvertible", {})
            skipped[exc.item_type] = skipped.get(exc.item_type, 0) + 1
            return None
        except InvalidHostedItem as exc:
            summary.items_failed += 1
            summary.failures.append(f"thread {thread_id}: {exc}")
            return None
        created_at = timestamp(raw.created_at)
        if last_at is not None and created_at <= last_at:
            created_at = last_at + TICK  # same second as the previous item: keep the order
        attachments: list[Attachment] = []
        if isinstance(hosted, ChatKitThreadUserMessageItem):
            for entry in hosted.attachments:
                brought = await self.attachments.bring(entry, thread_id, context, known)
                attachments.append(brought.attachment)
                if brought.outcome == "bytes":
                    summary.attachments_with_bytes += 1
                elif brought.outcome == "metadata":
                    summary.attachments_metadata_only += 1
                if brought.note:
                    summary.warnings.append(f"thread {thread_id}: {brought.note}")
        try:
            item = convert_item(hosted, thread_id, created_at, attachments)
        except InvalidHostedItem as exc:
            summary.items_failed += 1
            summary.failures.append(f"thread {thread_id}: {exc}")
            return None
        summary.items[item.type] += 1
        return item

    async def _save_page(
        self,
        thread: ThreadMetadata,
        state: dict[str, Any],
        batch: list[ThreadItem],
        context: RequestContext,
    ) -> None:
        """Write a page's items, then move the thread's resume point past the page."""
        if self.dry_run or self.store is None:
            return
        if batch:
            await self.store.add_thread_items(thread.id, batch, context)
        thread.metadata = {**thread.metadata, HOSTED_METADATA: dict(state)}
        await self.store.save_thread(thread, context)

    async def _item_pages(self, thread_id: str, after: str | None) -> AsyncIterator[list[Any]]:
        """The hosted thread's items, oldest first, a page at a time, after ``after``."""
        query: dict[str, Any] = {"order": "asc", "limit": self.page_size}
        if after:
            query["after"] = after
        threads = self.client.beta.chatkit.threads
        try:
            page = await threads.list_items(thread_id, **query)
        except (openai.BadRequestError, openai.NotFoundError):
            if not after:
                raise _Gone() from None
            # The item we stopped after is gone: start over (items already here are skipped).
            query.pop("after")
            page = await self._call(threads.list_items(thread_id, **query), thread_id)
        except openai.APIError as exc:
            raise self._stop(exc, thread_id) from None
        while True:
            yield list(page.data)
            if not page.has_next_page():
                return
            page = await self._call(page.get_next_page(), thread_id)

    async def _call(self, awaitable: Any, thread_id: str) -> Any:
        try:
            return await awaitable
        except openai.NotFoundError:
            raise _Gone() from None
        except openai.APIError as exc:
            raise self._stop(exc, thread_id) from None

    @staticmethod
    def _stop(exc: openai.APIError, thread_id: str) -> Exception:
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            return HostedAPIError(f"hosted ChatKit refused the API key: {describe(exc)}")
        return _Stop(
            f"hosted ChatKit kept failing while reading thread {thread_id}: {describe(exc)}"
        )


class _Gone(Exception):
    """The hosted thread no longer exists."""


def _first_leaf(group: BaseExceptionGroup[Any]) -> BaseException:
    """The error that stopped the workers: a refused key first, then any other."""
    leaves: list[BaseException] = []

    def walk(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                walk(inner)
        else:
            leaves.append(error)

    walk(group)
    leaves.sort(key=lambda error: (not isinstance(error, HostedAPIError), isinstance(error, _Stop)))
    return leaves[0]


def describe(exc: openai.APIError) -> str:
    """One line for an API error: its status and the API's own message."""
    body = exc.body if isinstance(exc.body, dict) else {}
    message = body.get("message") if isinstance(body.get("message"), str) else exc.message
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {message}"
    return f"{type(exc).__name__}: {message}"
