"""The store contract: the SDK's ``Store`` plus lifecycle, feedback and admin queries.

Every store here (``MemoryStore``, ``SQLStore`` on SQLite or PostgreSQL) keeps these
semantics, and ``tests/stores/test_contract.py`` checks each of them on every store.

Ownership
    Every call takes a context object with a ``user_id`` attribute (``RequestContext``, or
    any object with that attribute, such as the SDK examples' pydantic model). Every read
    and write is scoped to that user (to ``"<tenant_id>/<user_id>"`` when the context
    carries a ``tenant_id``, so tenants never share threads). Another user's thread, item or attachment reads as
    missing: loading it raises ``NotFoundError``, listing never shows it, saving over it
    raises ``NotFoundError`` (it is never overwritten) and deleting it is a no-op that
    leaves it untouched, exactly as for an id that does not exist, so a caller cannot
    tell "someone else's" from "nobody's".

Order
    Threads are ordered by ``(created_at, id)`` per user, items by ``(created_at, id)``
    per thread. Rows with the same ``created_at`` are ordered by id, never dropped or
    repeated across pages.

Pages
    ``order`` is ``"asc"`` or ``"desc"``. ``after`` is an exclusive cursor: the id of a
    row, and the page holds the rows that follow it in that order. ``has_more`` is exact
    (the store reads one row past the page). ``Page.after`` is the id of the last row
    returned when ``has_more`` is true, else ``None``. An ``after`` that names no row
    (deleted, another thread's, another user's) raises ``InvalidPageError`` (400,
    ``invalid_page``): never an empty page that would read as "the end", never a restart
    from the top. A ``limit`` outside 1..10000 or another ``order`` raises the same
    error. Pages are read with keyset queries on indexed columns, so their cost does not
    grow with the length of a thread or the number of threads.

Missing rows
    Loading a missing thread, item or attachment, listing the items of a missing thread,
    and adding or saving an item to a missing thread raise ``NotFoundError``
    (``StoreNotFoundError``, which is also ``chatkit.store.NotFoundError``; the API
    answers 404).

Writes
    ``save_thread``, ``save_item`` and ``save_attachment`` upsert. ``add_thread_item`` of
    an id the thread already holds replaces that item (the SDK can emit an item twice).
    Each write is one atomic statement or transaction (``INSERT ... ON CONFLICT``).
    ``delete_thread`` removes the thread, its items, its feedback and the attachment
    rows bound to it (``thread_id``); the files belong to the attachment store, found
    with ``admin_thread_attachments`` first. Deleting what is not there is a no-op.

Datetimes
    A naive datetime (the SDK uses ``datetime.now()``) is taken as UTC for ordering. The
    model itself is stored as JSON (``model_dump_json()``), so it comes back equal to what
    was saved: naive stays naive, an aware one keeps its instant (``==`` holds).

Round trips
    Every item type, thread and attachment comes back equal (``==``) to what was saved,
    ``metadata`` included (the API strips it on output; the store keeps it).

IDs
    The SDK's ids carry 32 random bits and collide at scale. ``generate_thread_id``,
    ``generate_item_id`` and ``generate_attachment_id`` keep the SDK's prefixes (``thr_``,
    ``msg_``, ...) and add 128 random bits (32 hex digits). Override them as in the SDK.
"""

import secrets
from abc import abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chatkit.store import Store, StoreItemType
from chatkit.types import Attachment, FeedbackKind, ThreadItem, ThreadMetadata

from chatkit_backend.errors import BadRequestError
from chatkit_backend.stores.errors import InvalidPageError

ID_PREFIXES: dict[StoreItemType, str] = {
    "thread": "thr",
    "message": "msg",
    "tool_call": "tc",
    "workflow": "wf",
    "task": "tsk",
    "attachment": "atc",
    "sdk_hidden_context": "shcx",
}
ID_RANDOM_BYTES = 16
MAX_PAGE_LIMIT = 10_000
FEEDBACK_KINDS: frozenset[str] = frozenset({"positive", "negative"})


def generate_id(item_type: StoreItemType) -> str:
    """An id with the SDK's prefix and 128 random bits, e.g. ``msg_3f9c...`` (32 hex digits)."""
    return f"{ID_PREFIXES[item_type]}_{secrets.token_hex(ID_RANDOM_BYTES)}"


def owner_of(context: Any) -> str:
    """The owner every store call is scoped to: ``context.user_id``, qualified by
    ``context.tenant_id`` when the context has one (``"<tenant>/<user>"``), so the same
    user id in two tenants owns two separate sets of threads."""
    user_id = getattr(context, "user_id", None)
    if not isinstance(user_id, str) or not user_id:
        raise TypeError(
            "store calls need a context object with a non-empty string `user_id` attribute, "
            f"got {type(context).__name__}"
        )
    tenant_id = getattr(context, "tenant_id", None)
    if not isinstance(tenant_id, str) or not tenant_id:
        return user_id
    # Escape the separator in the tenant, so ("a", "b/c") and ("a/b", "c") stay two owners.
    return tenant_id.replace("%", "%25").replace("/", "%2F") + "/" + user_id


def as_utc(value: datetime) -> datetime:
    """The instant of ``value`` in UTC, taking a naive datetime as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def check_page_request(limit: int, order: str) -> None:
    """Raise ``InvalidPageError`` for a limit outside 1..10000 or an order other than asc/desc."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidPageError(f"limit must be a whole number of at least 1 (got {limit!r})")
    if limit > MAX_PAGE_LIMIT:
        raise InvalidPageError(f"limit must be at most {MAX_PAGE_LIMIT} (got {limit})")
    if order not in ("asc", "desc"):
        raise InvalidPageError(f"order must be 'asc' or 'desc' (got {order!r})")


def check_feedback_kind(kind: str) -> None:
    if kind not in FEEDBACK_KINDS:
        raise BadRequestError(f"feedback kind must be 'positive' or 'negative' (got {kind!r})")


@dataclass(frozen=True, slots=True)
class Feedback:
    thread_id: str
    item_ids: list[str]
    kind: FeedbackKind
    user_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OwnedThread:
    """A thread with its owner, for admin commands that work across users."""

    user_id: str
    thread: ThreadMetadata


@dataclass(frozen=True, slots=True)
class OwnedAttachment:
    user_id: str
    attachment: Attachment
    created_at: datetime


class BackendStore(Store[Any]):
    """A ChatKit store with lifecycle and the queries the backend needs."""

    kind: str = "store"  # "memory", "sqlite", "postgresql": shown by `serve`

    # -- ids --------------------------------------------------------------------------
    def generate_thread_id(self, context: Any) -> str:
        return generate_id("thread")

    def generate_item_id(
        self, item_type: StoreItemType, thread: ThreadMetadata, context: Any
    ) -> str:
        return generate_id(item_type)

    def generate_attachment_id(self, mime_type: str, context: Any) -> str:
        return generate_id("attachment")

    # -- lifecycle --------------------------------------------------------------------
    async def open(self) -> None:
        """Prepare the store (connect, migrate when configured). Idempotent."""

    async def close(self) -> None:
        """Release connections and files."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise if the store cannot answer a trivial query (used by /readyz)."""

    # -- bulk -------------------------------------------------------------------------
    async def add_thread_items(self, thread_id: str, items: list[ThreadItem], context: Any) -> None:
        """Add many items to one thread (imports, benchmarks); same rules as ``add_thread_item``."""
        for item in items:
            await self.add_thread_item(thread_id, item, context)

    # -- feedback ---------------------------------------------------------------------
    @abstractmethod
    async def save_feedback(
        self, thread_id: str, item_ids: list[str], kind: FeedbackKind, context: Any
    ) -> None:
        """Record feedback on items of one of the user's threads (NotFoundError otherwise)."""

    @abstractmethod
    async def load_feedback(self, thread_id: str, context: Any) -> list[Feedback]:
        """Feedback recorded on one of the user's threads, oldest first."""

    # -- admin ------------------------------------------------------------------------
    @abstractmethod
    async def admin_list_threads(
        self, user_id: str | None, *, limit: int = 100, created_before: datetime | None = None
    ) -> list[OwnedThread]:
        """Threads across users (or one user), newest first. For admin commands only."""

    @abstractmethod
    async def admin_stale_attachments(self, created_before: datetime) -> list[OwnedAttachment]:
        """Attachments never bound to a thread, created before the cutoff (for pruning)."""

    @abstractmethod
    async def admin_thread_attachments(self, user_id: str, thread_id: str) -> list[Attachment]:
        """Attachments bound to a thread (so their files can be removed with it)."""
