"""The store contract: the SDK's ``Store`` plus lifecycle, feedback and admin queries.

Every store here (``MemoryStore``, ``SQLStore`` on SQLite or PostgreSQL) keeps these
semantics, and ``tests/stores/test_contract.py`` checks each of them on every store.

Ownership
    Every call takes a context object with a ``user_id`` attribute (``RequestContext``, or
    any object with that attribute, such as the SDK examples' pydantic model). Every read
    and write is scoped to that user (to ``"<tenant_id>/<user_id>"`` when the context
    carries a ``tenant_id``, so tenants never share threads). Another user's thread, item
    or attachment reads as missing, exactly as an id that does not exist, so a caller
    cannot tell "someone else's" from "nobody's": ``load_thread``, ``load_item`` and
    ``load_attachment`` raise ``NotFoundError``; ``load_thread_items`` returns an empty
    page (the SDK's own store contract, which its store test suite checks); listing never
    shows it; saving over it raises ``NotFoundError`` (it is never overwritten) and
    deleting it is a no-op that leaves it untouched.

Order
    Threads are ordered by ``(created_at, id)`` per user, items by ``(created_at, id)``
    per thread. Rows with the same ``created_at`` are ordered by id, never dropped or
    repeated across pages.

Pages
    ``order`` is ``"asc"`` or ``"desc"``. ``after`` is an exclusive cursor: the id of a
    row, and the page holds the rows that follow it in that order. ``has_more`` is exact
    (the store reads one row past the page). ``Page.after`` is the id of the last row
    returned when ``has_more`` is true, else ``None``. In one of the user's threads (or
    their own thread list), an ``after`` that names no row (deleted, another thread's,
    another user's) raises ``InvalidPageError`` (400, ``invalid_page``): never an empty
    page that would read as "the end", never a restart from the top. (The items of a
    thread the user does not have are an empty page, whatever the cursor.) A ``limit`` outside 1..10000 or another ``order`` raises the same
    error. Pages are read with keyset queries on indexed columns, so their cost does not
    grow with the length of a thread or the number of threads.

Missing rows
    Loading a missing thread, item or attachment, and adding or saving an item to a
    missing thread raise ``NotFoundError`` (``StoreNotFoundError``, which is also
    ``chatkit.store.NotFoundError``; the API answers 404). The items of a missing thread
    are an empty page, as the SDK's contract says: callers that must tell "no such
    thread" load the thread first (the API does, and answers 404 before any stream).

Writes
    ``save_thread``, ``save_item`` and ``save_attachment`` upsert. ``add_thread_item`` of
    an id the thread already holds replaces that item (the SDK can emit an item twice).
    Each write is one atomic statement or transaction (``INSERT ... ON CONFLICT``), and
    is durable once the call returns (see docs/stores.md for SQLite's ``synchronous``).
    ``delete_thread`` removes the thread, its items, its feedback and the attachment
    rows bound to it (``thread_id``); the files belong to the attachment store, found
    with ``admin_thread_attachments`` first. Deleting what is not there is a no-op.

Thread metadata
    ``update_thread`` applies a ``ThreadUpdate`` (``stores/thread_updates.py``) in one
    atomic step: each changed field (``title``, ``status``, ``allowed_image_domains``, each
    ``metadata`` key) is written only if the stored value is still the one the writer saw,
    so a writer holding an older copy (a reply that streamed for a minute) never undoes a
    newer write (a rename meanwhile). ``set_thread_status`` is the helper for locking,
    closing and reopening a thread.

Reply leases
    ``acquire_thread_lease``, ``renew_thread_lease``, ``release_thread_lease`` and
    ``request_reply_stop`` keep one reply at a time per thread (``stores/leases.py``).
    These defaults hold them in this process (enough for one process, and for the memory
    store); ``SQLStore`` keeps them in the database, so they hold across processes and
    hosts, and a lease whose holder died expires ``ttl`` seconds after its last renewal.

Datetimes
    A naive datetime (the SDK uses ``datetime.now()``) is taken as UTC for ordering. The
    model itself is stored as JSON (``model_dump_json()``), so it comes back equal to what
    was saved: naive stays naive, an aware one keeps its instant (``==`` holds).

Usage and feedback across users
    ``save_usage`` keeps one ``UsageRecord`` per reply (``stores/usage.py``), tied to no
    thread: deleting the thread leaves it (it was spent). ``admin_usage`` adds records up
    by day, user, tenant and model; ``admin_feedback`` lists feedback of every user.

Round trips
    Every item type, thread and attachment comes back equal (``==``) to what was saved,
    ``metadata`` included (the API strips it on output; the store keeps it).

Availability
    A store that cannot answer (database unreachable, pool exhausted, a statement past
    its timeout, SQLite locked past its busy timeout) raises ``StoreUnavailableError``
    (503, ``store_unavailable``) within a bound: at most ``pool_timeout`` waiting for a
    connection plus ``connect_timeout`` or ``statement_timeout``. ``ping()`` is the cheap
    check callers make before they promise anything (a stream) that needs the store.

JSON pages
    ``load_threads_json`` answers the ``threads.list`` request body directly: for the
    SQL and memory stores the rows go from the stored JSON to the answer without a model
    in between.

IDs
    The SDK's ids carry 32 random bits and collide at scale. ``generate_thread_id``,
    ``generate_item_id`` and ``generate_attachment_id`` keep the SDK's prefixes (``thr_``,
    ``msg_``, ...) and add 128 random bits (32 hex digits). Override them as in the SDK.
"""

import secrets
from abc import abstractmethod
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from chatkit.store import Store, StoreItemType
from chatkit.types import (
    ActiveStatus,
    Attachment,
    ClosedStatus,
    FeedbackKind,
    LockedStatus,
    ThreadItem,
    ThreadMetadata,
)

from chatkit_backend.errors import BadRequestError
from chatkit_backend.stores import codec
from chatkit_backend.stores.errors import InvalidPageError
from chatkit_backend.stores.leases import LeaseState, ProcessLeases
from chatkit_backend.stores.thread_updates import ThreadUpdate
from chatkit_backend.stores.usage import FeedbackQuery, UsageQuery, UsageRecord, UsageTotal

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
        """Raise ``StoreUnavailableError`` if the store cannot answer a trivial query now.

        Bounded in time like every call (see "Availability"). Used by ``/readyz``, and
        before a stream starts, so an outage is a 503 rather than an error event.
        """

    # -- pages as JSON ----------------------------------------------------------------
    async def load_threads_json(
        self, limit: int, after: str | None, order: str, context: Any
    ) -> bytes:
        """The user's threads as the JSON body of the ``threads.list`` answer.

        Bytes equal to the SDK's ``ChatKitServer`` answer for the same page: a
        ``Page[Thread]`` of ``load_threads(limit, after, order, context)``, each thread
        without ``metadata`` and with empty ``items``, ``null`` fields left out. Same
        errors as ``load_threads``. This default builds it from ``load_threads``; the SQL
        and memory stores write it from the stored JSON without decoding the rows.
        """
        page = await self.load_threads(limit, after, order, context)
        rows = [codec.thread_list_row_of(thread) for thread in page.data]
        return codec.thread_list_json(rows, page.has_more, page.after)

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

    async def restore_feedback(
        self,
        thread_id: str,
        item_ids: list[str],
        kind: FeedbackKind,
        created_at: datetime,
        context: Any,
    ) -> None:
        """Record feedback as it was exported, at its original ``created_at`` (imports).

        Same checks as ``save_feedback``. This default records it as new feedback (its
        time is now); ``MemoryStore`` keeps the original time, a store should too.
        """
        await self.save_feedback(thread_id, item_ids, kind, context)

    # -- thread metadata ----------------------------------------------------------------
    async def update_thread(
        self, thread_id: str, update: ThreadUpdate, context: Any
    ) -> ThreadMetadata:
        """Apply ``update`` to one of the user's threads; return the thread as stored after.

        Each change is applied only where the stored value is still the one it expects
        (see "Thread metadata"). Raises ``NotFoundError`` for a thread the user does not
        have. This default loads and saves the thread (not atomic across processes); the
        SQL and memory stores apply it in one atomic step.
        """
        stored = await self.load_thread(thread_id, context)
        updated = update.apply(stored)
        if updated != stored:
            await self.save_thread(updated, context)
        return updated

    async def set_thread_status(
        self,
        thread_id: str,
        status: ActiveStatus | LockedStatus | ClosedStatus,
        context: Any,
    ) -> ThreadMetadata:
        """Lock, close or reopen one of the user's threads; return it as stored after.

        ``LockedStatus(reason=...)`` and ``ClosedStatus(reason=...)`` refuse new replies
        (409 ``thread_locked``/``thread_closed``, the reason in the message);
        ``ActiveStatus()`` lifts that. Only the status is written: a title or metadata
        written meanwhile stays. Raises ``NotFoundError`` for a thread the user does not have.
        """
        return await self.update_thread(thread_id, ThreadUpdate.setting(status=status), context)

    # -- reply leases -----------------------------------------------------------------
    def _process_leases(self) -> ProcessLeases:
        leases: ProcessLeases | None = self.__dict__.get("_chatkit_process_leases")
        if leases is None:
            leases = self.__dict__["_chatkit_process_leases"] = ProcessLeases()
        return leases

    async def acquire_thread_lease(
        self,
        thread_id: str,
        holder: str,
        ttl: float,
        context: Any,
        *,
        request_id: str | None = None,
    ) -> bool:
        """Take the lease of one of the user's threads for ``holder`` (a random token of
        at most 64 characters), valid ``ttl`` seconds; False while another holder's lease
        is valid. ``request_id`` (at most 128 characters) names the request whose reply
        holds it, for ``request_reply_stop``."""
        return self._process_leases().acquire(thread_id, holder, owner_of(context), ttl, request_id)

    async def renew_thread_lease(self, thread_id: str, holder: str, ttl: float) -> LeaseState:
        """Extend ``holder``'s lease to ``ttl`` seconds from now; whether it still holds it
        and whether a stop was requested."""
        return self._process_leases().renew(thread_id, holder, ttl)

    async def release_thread_lease(self, thread_id: str, holder: str) -> None:
        """Give back ``holder``'s lease (a no-op when it no longer holds it)."""
        self._process_leases().release(thread_id, holder)

    async def request_reply_stop(self, request_id: str, context: Any) -> bool:
        """Ask the reply answering ``request_id`` (on one of the user's threads) to stop;
        False when no such reply holds a lease now."""
        return self._process_leases().request_stop(request_id, owner_of(context))

    async def admin_thread_owner(self, thread_id: str) -> str | None:
        """The owner of a thread, whoever it is (for admin commands); None when missing.

        This default raises ``NotImplementedError``; the SQL and memory stores answer it.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot look up a thread's owner")

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

    async def admin_feedback(self, query: FeedbackQuery) -> list[Feedback]:
        """Feedback across users (or of ``query.user_id``), oldest first (see
        ``FeedbackQuery``). For admin commands only.

        This default raises ``NotImplementedError``; the SQL and memory stores answer it.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot list feedback across users")

    # -- usage (stores/usage.py) --------------------------------------------------------
    async def save_usage(self, record: UsageRecord) -> None:
        """Record one reply's token usage (``record.user_id`` is the owner, as
        ``owner_of`` makes it). Kept when the thread is deleted.

        This default raises ``NotImplementedError``; the SQL and memory stores keep it.
        """
        raise NotImplementedError(f"{type(self).__name__} does not record usage")

    async def admin_usage(self, query: UsageQuery) -> list[UsageTotal]:
        """Usage added up over the records ``query`` matches, grouped and sorted by
        ``query.by`` (``day``, ``user``, ``tenant``, ``model``). For admin commands only.

        This default raises ``NotImplementedError``; the SQL and memory stores answer it.
        """
        raise NotImplementedError(f"{type(self).__name__} does not record usage")

    async def usage_tokens(
        self, day: str, *, user_id: str | None = None, tenant_id: str | None = None
    ) -> int:
        """Input plus output tokens recorded on ``day`` (``YYYY-MM-DD``, UTC) for one owner
        or one tenant (quotas read it when they start counting a day). Raises
        ``ValueError`` unless exactly one of them is given.

        This default adds up ``admin_usage``.
        """
        if (user_id is None) == (tenant_id is None):
            raise ValueError("usage_tokens needs one of user_id or tenant_id")
        day_value = date.fromisoformat(day)
        totals = await self.admin_usage(
            UsageQuery(
                by=(), user_id=user_id, tenant_id=tenant_id, since=day_value, until=day_value
            )
        )
        return sum(total.total_tokens for total in totals)
