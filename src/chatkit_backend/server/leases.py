"""One reply at a time per thread: the lease a reply holds while it streams.

``ReplyLeases.acquire`` runs before the first byte of a request that starts a reply
(``threads.create``, ``add_user_message``, ``retry_after_item``,
``add_client_tool_output``, ``add_structured_input``, ``custom_action``): it takes the
thread's lease in the store, or raises ``ThreadBusyError`` (409 ``thread_busy``) when
another reply holds it, after waiting up to ``busy_wait`` seconds for one that is ending
(a reply stopped a moment ago still saves what it generated).

The ``ReplyLease`` then lives as long as the reply's event stream: ``keep()`` renews it
every ``ttl / 3`` seconds and releases it when the stream ends, however it ends
(finished, failed, cancelled); ``release()`` also runs when the response closes, so a
stream that never started gives its lease back too. A holder that dies (``kill -9``)
stops renewing, and its lease expires ``ttl`` seconds later.

Stopping. A reply can be asked to stop by the request id it answers
(``ReplyLeases.stop``, the ``POST {CHATKIT_PATH}/stop`` route): in this process the
reply's task is cancelled at once; in any process the store marks the lease, and its
holder cancels the reply when it next renews. A reply whose client went away and that
runs on (``CHATKIT_ON_DISCONNECT=finish``) is ``detach()``-ed: it renews every
``detached_poll`` seconds from then on, so a stop sent to another process takes effect
within that time.
"""

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from chatkit.store import Store
from chatkit.types import ThreadMetadata, ThreadStreamEvent

from chatkit_backend.errors import ThreadBusyError
from chatkit_backend.stores.base import BackendStore, owner_of
from chatkit_backend.stores.leases import LeaseState, ProcessLeases

logger = logging.getLogger("chatkit_backend.server")

DEFAULT_TTL = 30.0
DEFAULT_BUSY_WAIT = 1.0
BUSY_POLL = 0.1
DETACHED_POLL = 0.5
MAX_REQUEST_ID = 128
EventSource = Callable[[], AsyncIterator[ThreadStreamEvent]]


class _LeaseStore:
    """The lease calls of a store: a ``BackendStore``'s own, or this process's for another."""

    def __init__(self, store: Store[Any]) -> None:
        self.store = store if isinstance(store, BackendStore) else None
        self.local = ProcessLeases()

    async def acquire(
        self, thread_id: str, holder: str, ttl: float, context: Any, request_id: str | None
    ) -> bool:
        if self.store is not None:
            return await self.store.acquire_thread_lease(
                thread_id, holder, ttl, context, request_id=request_id
            )
        return self.local.acquire(thread_id, holder, _owner(context), ttl, request_id)

    async def renew(self, thread_id: str, holder: str, ttl: float) -> LeaseState:
        if self.store is not None:
            return await self.store.renew_thread_lease(thread_id, holder, ttl)
        return self.local.renew(thread_id, holder, ttl)

    async def release(self, thread_id: str, holder: str) -> None:
        if self.store is not None:
            await self.store.release_thread_lease(thread_id, holder)
        else:
            self.local.release(thread_id, holder)

    async def request_stop(self, request_id: str, context: Any) -> bool:
        if self.store is not None:
            return await self.store.request_reply_stop(request_id, context)
        return self.local.request_stop(request_id, _owner(context))


def _owner(context: Any) -> str:
    try:
        return owner_of(context)
    except TypeError:
        return str(getattr(context, "user_id", ""))


class ReplyLeases:
    """The leases of one app's replies (see the module docstring)."""

    def __init__(
        self,
        store: Store[Any],
        *,
        ttl: float = DEFAULT_TTL,
        busy_wait: float = DEFAULT_BUSY_WAIT,
        detached_poll: float = DETACHED_POLL,
    ) -> None:
        self.leases = _LeaseStore(store)
        self.ttl = ttl
        self.busy_wait = busy_wait
        self.detached_poll = detached_poll
        self.running: dict[str, ReplyLease] = {}
        """The replies of this process that hold a lease, by the request id they answer."""

    async def acquire(self, thread: ThreadMetadata, context: Any) -> "ReplyLease":
        """Take ``thread``'s lease for a reply to ``context``'s request.

        Raises ``ThreadBusyError`` (409) when another reply holds it past ``busy_wait``.
        """
        holder = secrets.token_hex(16)
        request_id = _request_id(context)
        deadline = time.monotonic() + self.busy_wait
        while not await self.leases.acquire(thread.id, holder, self.ttl, context, request_id):
            if time.monotonic() >= deadline:
                raise ThreadBusyError(
                    f"thread {thread.id!r} is busy: another reply is streaming on it; "
                    "send this again once that reply has ended (or stop it first)"
                )
            await asyncio.sleep(BUSY_POLL)
        return ReplyLease(self, thread.id, holder, request_id, _owner(context))

    async def stop(self, request_id: str, context: Any) -> bool:
        """Ask the reply answering ``request_id`` (one of ``context``'s user's) to stop.

        True when such a reply holds a lease (here or in another process).
        """
        lease = self.running.get(request_id)
        stopping = False
        if lease is not None and lease.owner == _owner(context):
            stopping = lease.cancel()
        return await self.leases.request_stop(request_id, context) or stopping


@dataclass(eq=False)
class ReplyLease:
    """One reply's hold on its thread; see the module docstring."""

    leases: ReplyLeases
    thread_id: str
    holder: str
    request_id: str | None
    owner: str
    released: bool = False
    detached: bool = False
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[Any] | None = None
    _stop_sent: bool = False

    def guard(self, source: EventSource) -> EventSource:
        """``source`` holding this lease while it streams (``keep``)."""

        async def events() -> AsyncIterator[ThreadStreamEvent]:
            async with self.keep():
                async for event in source():
                    yield event

        return events

    @contextlib.asynccontextmanager
    async def keep(self) -> AsyncIterator[None]:
        """Renew the lease while the block runs (in the task that streams the reply, which
        a stop cancels); release it when the block ends."""
        self._task = asyncio.current_task()
        if self.request_id:
            self.leases.running[self.request_id] = self
        renewer = asyncio.create_task(self._renew())
        try:
            yield
        finally:
            renewer.cancel()
            with contextlib.suppress(BaseException):
                await renewer
            await self.release()

    def detach(self) -> None:
        """The client went away and the reply runs on: look for a stop sent meanwhile at
        once, then every ``detached_poll`` seconds."""
        self.detached = True
        self._wake.set()

    def cancel(self) -> bool:
        """Cancel the reply's task (once); False when it is not streaming here."""
        task = self._task
        if task is None or task.done() or self.released:
            return False
        if not self._stop_sent and not task.cancelling():
            self._stop_sent = True
            task.cancel()
        return True

    async def release(self) -> None:
        """Give the lease back (once; later calls do nothing)."""
        if self.released:
            return
        self.released = True
        if self.request_id and self.leases.running.get(self.request_id) is self:
            del self.leases.running[self.request_id]
        try:
            await asyncio.shield(self.leases.leases.release(self.thread_id, self.holder))
        except Exception:  # it expires on its own; the reply's outcome stands
            logger.warning(
                "could not release the lease of thread %s; it expires in %g s",
                self.thread_id,
                self.leases.ttl,
                exc_info=True,
            )

    async def _renew(self) -> None:
        ttl = self.leases.ttl
        while True:
            interval = self.leases.detached_poll if self.detached else ttl / 3
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                state = await self.leases.leases.renew(self.thread_id, self.holder, ttl)
            except Exception:  # a store outage: try again at the next beat
                logger.warning("could not renew the lease of thread %s", self.thread_id)
                continue
            if not state.held:
                logger.warning(
                    "reply on thread %s lost its lease (not renewed for %g s); another "
                    "reply may start on the thread",
                    self.thread_id,
                    ttl,
                )
                return
            if state.stop_requested:
                self.cancel()
                return


def _request_id(context: Any) -> str | None:
    request_id = getattr(context, "request_id", None)
    if isinstance(request_id, str) and 0 < len(request_id) <= MAX_REQUEST_ID:
        return request_id
    return None
