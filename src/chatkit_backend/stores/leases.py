"""Thread leases: one reply at a time per thread, across worker processes and hosts.

A reply takes its thread's lease before its stream starts and gives it back when the
reply ends (finished, failed or cancelled). While it streams it renews the lease; a
holder that dies without releasing (``kill -9``, a lost host) stops renewing, and the
lease expires ``ttl`` seconds after its last renewal, when the next request takes it.

- ``acquire``: take the thread's lease for ``holder`` (a random token per reply) unless
  another holder's lease is still valid. Taking it again with the same holder succeeds,
  so a retried statement cannot make a reply its own obstacle.
- ``renew``: push the expiry ``ttl`` seconds ahead; tells whether the lease is still this
  holder's and whether the reply's user asked it to stop.
- ``release``: give it back (only this holder's).
- ``request_stop``: mark the reply answering ``request_id`` (one of the user's threads)
  as asked to stop; the holder sees it when it next renews.

``ProcessLeases`` keeps them in this process (the memory store, and any ``BackendStore``
that does not override the lease methods); ``SQLLeases`` (``stores/sql_state.py``) in
the ``chatkit_thread_leases`` table, each call one statement. On SQLite every process shares one file on one host, so
the host's clock serves; on PostgreSQL the database's clock (``now()``) does, so hosts
with skewed clocks still agree on when a lease expires, and the table is ``UNLOGGED``
(no WAL flush per lease write; a database crash forgets the leases, as it ends their
holders' transactions anyway).
"""

import time
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class LeaseState:
    """What a renewal found: whether the holder still has the lease, and whether the
    reply's user asked it to stop."""

    held: bool
    stop_requested: bool = False


# -- in this process -----------------------------------------------------------------------
@dataclass(slots=True)
class _Entry:
    holder: str
    owner: str
    request_id: str | None
    expires: float
    stop_requested: bool = False


@dataclass(slots=True)
class ProcessLeases:
    """Leases in this process's memory (monotonic clock); every call is atomic on the loop."""

    entries: dict[str, _Entry] = field(default_factory=dict)

    def acquire(
        self, thread_id: str, holder: str, owner: str, ttl: float, request_id: str | None
    ) -> bool:
        now = time.monotonic()
        entry = self.entries.get(thread_id)
        if entry is not None and entry.holder != holder and entry.expires > now:
            return False
        self.entries[thread_id] = _Entry(holder, owner, request_id, now + ttl)
        return True

    def renew(self, thread_id: str, holder: str, ttl: float) -> LeaseState:
        entry = self.entries.get(thread_id)
        if entry is None or entry.holder != holder:
            return LeaseState(held=False)
        entry.expires = time.monotonic() + ttl
        return LeaseState(held=True, stop_requested=entry.stop_requested)

    def release(self, thread_id: str, holder: str) -> None:
        entry = self.entries.get(thread_id)
        if entry is not None and entry.holder == holder:
            del self.entries[thread_id]

    def request_stop(self, request_id: str, owner: str) -> bool:
        now = time.monotonic()
        found = False
        for entry in self.entries.values():
            if entry.request_id == request_id and entry.owner == owner and entry.expires > now:
                entry.stop_requested = found = True
        return found
