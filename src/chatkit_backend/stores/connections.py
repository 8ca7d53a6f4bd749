"""Connections for ``SQLStore``: a small pool of its own over each async driver.

Both give the store the same three calls: ``read`` and ``write`` run one statement and
return its rows, ``transaction()`` runs several in one transaction. Every call costs one
trip to the driver (one hand-off to the SQLite connection's thread, one round trip to
PostgreSQL); nothing is built per call.

Cancellation. A client that hangs up cancels the task streaming its reply, often while it
waits on the database; the caller sees ``CancelledError`` at once, and the connection is
never left inside a transaction:

- SQLite: a statement runs in its connection's thread and finishes there whatever the
  caller does; single statements need no transaction (each is atomic). A transaction
  cancelled between statements has its ``ROLLBACK`` queued on the connection's thread
  before the writer lock is released, so the next writer's statements run after it.
- PostgreSQL: a call cancelled (or timed out) mid-flight discards its connection
  (``terminate()``: the server rolls back whatever was open); it is never returned to
  the pool.

Outages. Every wait is bounded: a free connection within ``pool_timeout``, a new one
within ``connect_timeout``, a statement's answer within ``statement_timeout`` (PostgreSQL;
SQLite's waits are bounded by its busy timeout). Past a bound, or on a broken connection,
the call raises ``StoreUnavailableError`` (503 ``store_unavailable``) and the connection
is discarded. A connection that broke while idle (a restarted server) is replaced, and
the call retried once on the fresh one, so a failover costs no failed request.

Connections are opened on demand and kept: ``opened`` counts every connection a pool has
opened, so tests can check there is no churn.
"""

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Protocol, TypeVar

import aiosqlite

from chatkit_backend.stores.engine import EngineOptions
from chatkit_backend.stores.errors import StoreUnavailableError, report_unavailable

logger = logging.getLogger("chatkit_backend.stores")

Rows = Sequence[Sequence[Any]]
T = TypeVar("T")
OVERFLOW_IDLE_SECONDS = 30.0
"""PostgreSQL connections beyond ``pool_size`` are closed after idling this long."""


class Transaction(Protocol):
    async def fetch(self, sql: str, args: Sequence[Any]) -> Rows: ...

    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> None: ...


class Database(Protocol):
    """What ``SQLStore`` needs from a pool; see the module docstring."""

    opened: int

    async def read(self, sql: str, args: Sequence[Any]) -> Rows: ...

    async def write(self, sql: str, args: Sequence[Any], *, idempotent: bool = True) -> Rows: ...

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Transaction]: ...

    async def close(self) -> None: ...


# -- SQLite ---------------------------------------------------------------------------------
SQLITE_SYNCHRONOUS = "NORMAL"
"""WAL + NORMAL: a commit is durable across a crash of the process (it is in the WAL, in
the OS's cache) but not of the machine's power; see docs/stores.md."""


def _sqlite_busy(exc: sqlite3.OperationalError) -> bool:
    message = str(exc)
    return "database is locked" in message or "database is busy" in message


class SQLiteDatabase:
    """SQLite in WAL mode: a connection on the event loop for the hot paths, and connections
    in threads (aiosqlite) for whatever may wait.

    The loop's own connection runs single statements directly, without a hand-off: an
    indexed read of a page takes tens of microseconds, less than decoding its rows, and a
    one-statement write appends to the WAL without an ``fsync`` (``synchronous=NORMAL``).
    It never waits, so it never blocks the loop: its busy timeout is 0 and it does not
    checkpoint (``wal_autocheckpoint=0``). When the file is locked (another process
    writing, a rare moment for WAL readers) or this process already has writes queued,
    the statement goes to a thread instead: one writer, holding this process's writes in
    turn (an asyncio lock, ``pool_timeout``) and waiting for other processes up to the busy
    timeout, and up to ``pool_size - 2`` readers. Transactions of several statements run
    on the writer (``BEGIN IMMEDIATE``), checkpoints on a reader, every
    ``CHECKPOINT_EVERY`` direct writes. At most ``max(3, pool_size)`` connections.
    """

    CHECKPOINT_EVERY = 300

    def __init__(self, path: str, options: EngineOptions, display_url: str) -> None:
        self.path = path
        self.options = options
        self.display_url = display_url
        self.max_readers = max(1, options.pool_size - 2)
        self.opened = 0
        self._direct: sqlite3.Connection | None = None
        self._starting: asyncio.Future[sqlite3.Connection] | None = None
        self._readers: list[aiosqlite.Connection] = []
        self._pending: dict[int, int] = {}
        self._opening = 0
        self._writer: aiosqlite.Connection | None = None
        self._writer_ready: asyncio.Future[aiosqlite.Connection] | None = None
        self._lock = asyncio.Lock()
        self._writes = 0
        self._checkpoint: asyncio.Task[None] | None = None
        self._closed = False

    def _pragmas(self, busy_ms: int) -> str:
        return (
            f"PRAGMA busy_timeout = {busy_ms}; PRAGMA journal_mode = WAL; "
            f"PRAGMA synchronous = {SQLITE_SYNCHRONOUS}; PRAGMA foreign_keys = ON;"
        )

    async def _connect(self) -> aiosqlite.Connection:
        """A connection in its own thread (aiosqlite), waiting up to the busy timeout."""
        busy_ms = int(self.options.busy_timeout_ms)
        connection = aiosqlite.connect(
            self.path,
            isolation_level=None,  # autocommit: a statement is its own transaction
            timeout=busy_ms / 1000,
            check_same_thread=False,
            uri=self.path.startswith("file:"),
        )
        self.opened += 1
        try:
            await connection
            await connection.executescript(self._pragmas(busy_ms))
        except BaseException:
            with contextlib.suppress(Exception):
                await connection.close()
            raise
        return connection

    # -- the loop's own connection ------------------------------------------------------
    def _open_direct(self) -> sqlite3.Connection:
        """Run in a worker thread: opening may wait (busy timeout, WAL recovery)."""
        connection = sqlite3.connect(
            self.path,
            isolation_level=None,
            timeout=self.options.busy_timeout_ms / 1000,
            check_same_thread=False,  # opened here, used on the event loop's thread only
            uri=self.path.startswith("file:"),
        )
        try:
            connection.executescript(
                self._pragmas(int(self.options.busy_timeout_ms))
                + " PRAGMA wal_autocheckpoint = 0; PRAGMA busy_timeout = 0;"
            )
        except BaseException:
            connection.close()
            raise
        return connection

    async def _start(self) -> sqlite3.Connection:
        if self._direct is not None:
            return self._direct
        if self._starting is None:
            self._starting = asyncio.get_running_loop().create_future()
            self.opened += 1
            try:
                with self._errors():
                    direct = await asyncio.to_thread(self._open_direct)
            except BaseException as exc:
                starting, self._starting = self._starting, None
                starting.set_exception(exc)
                starting.exception()  # retrieved: only the waiters see it
                raise
            if self._closed:
                direct.close()
                raise StoreUnavailableError("the store is closed")
            self._direct = direct
            self._starting.set_result(direct)
            return direct
        return await asyncio.shield(self._starting)

    def _after_direct_write(self) -> None:
        self._writes += 1
        if self._writes % self.CHECKPOINT_EVERY == 0 and (
            self._checkpoint is None or self._checkpoint.done()
        ):
            self._checkpoint = asyncio.get_running_loop().create_task(self._run_checkpoint())

    async def _run_checkpoint(self) -> None:
        """Copy the WAL back into the database file (``PASSIVE``: it waits for nobody)."""
        try:
            reader = await self._reader()
            await reader.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)", ())
        except Exception as exc:  # the next one will try again
            logger.debug("SQLite checkpoint failed: %s", exc)

    # -- readers ------------------------------------------------------------------------
    async def _reader(self) -> aiosqlite.Connection:
        """An idle reader, else a new one (up to the limit), else the least busy."""
        pending = self._pending
        for reader in self._readers:
            if not pending[id(reader)]:
                return reader
        if len(self._readers) + self._opening < self.max_readers or not self._readers:
            self._opening += 1
            try:
                reader = await self._connect()
            finally:
                self._opening -= 1
            if self._closed:
                await reader.close()
                raise StoreUnavailableError("the store is closed")
            self._readers.append(reader)
            pending[id(reader)] = 0
            return reader
        return min(self._readers, key=lambda reader: pending[id(reader)])

    async def read(self, sql: str, args: Sequence[Any]) -> Rows:
        direct = self._direct or await self._start()
        with self._errors():
            try:
                return direct.execute(sql, args).fetchall()
            except sqlite3.OperationalError as exc:
                if not _sqlite_busy(exc):
                    raise
            reader = await self._reader()  # locked for a moment: wait in a thread
            key = id(reader)
            self._pending[key] += 1
            try:
                return await reader.execute_fetchall(sql, args)  # type: ignore[return-value]
            finally:
                self._pending[key] -= 1

    # -- the writer ---------------------------------------------------------------------
    async def _writer_connection(self) -> aiosqlite.Connection:
        if self._writer is not None:
            return self._writer
        if self._writer_ready is None:
            self._writer_ready = asyncio.get_running_loop().create_future()
            try:
                self._writer = await self._connect()
            except BaseException as exc:
                ready, self._writer_ready = self._writer_ready, None
                ready.set_exception(exc)
                ready.exception()  # retrieved: only the waiters see it
                raise
            self._writer_ready.set_result(self._writer)
            return self._writer
        return await asyncio.shield(self._writer_ready)

    @contextlib.asynccontextmanager
    async def _write_turn(self) -> AsyncIterator[aiosqlite.Connection]:
        """The writer, held by this task (queued behind this process's other writers)."""
        lock = self._lock
        if lock.locked():
            try:
                async with asyncio.timeout(self.options.pool_timeout):
                    await lock.acquire()
            except TimeoutError:
                raise report_unavailable(
                    f"no database connection became free within {self.options.pool_timeout:g} s "
                    "(SQLite: this process's writes queue on one connection)",
                    None,
                ) from None
        else:
            await lock.acquire()
        try:
            yield await self._writer_connection()
        finally:
            lock.release()

    async def write(self, sql: str, args: Sequence[Any], *, idempotent: bool = True) -> Rows:
        direct = self._direct or await self._start()
        with self._errors():
            if not self._lock.locked():  # nothing queued: write now, on the loop
                try:
                    rows = direct.execute(sql, args).fetchall()
                except sqlite3.OperationalError as exc:
                    if not _sqlite_busy(exc):  # locked: nothing was written, queue it
                        raise
                else:
                    self._after_direct_write()
                    return rows
            async with self._write_turn() as writer:
                return await writer.execute_fetchall(sql, args)  # type: ignore[return-value]

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """``BEGIN IMMEDIATE`` (the write lock up front, so processes never deadlock
        upgrading a read lock) ... ``COMMIT``; ``ROLLBACK`` on any error or cancellation."""
        with self._errors():
            async with self._write_turn() as writer:
                await writer.execute_fetchall("BEGIN IMMEDIATE", ())
                try:
                    yield _SQLiteTransaction(writer)
                except BaseException:
                    # Queued in the writer's thread before the lock is released, even if
                    # this task is cancelled again while it waits.
                    with contextlib.suppress(Exception):
                        await writer.execute_fetchall("ROLLBACK", ())
                    raise
                await writer.execute_fetchall("COMMIT", ())

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            if _sqlite_busy(exc):
                raise report_unavailable(
                    f"the SQLite database stayed locked past the busy timeout "
                    f"({self.options.busy_timeout_ms} ms)",
                    exc,
                ) from None
            if "unable to open" in str(exc) or "disk I/O error" in str(exc):
                raise report_unavailable(
                    f"cannot open the database at {self.display_url}: {exc}", exc
                ) from None
            raise

    async def close(self) -> None:
        self._closed = True
        if self._checkpoint is not None:
            self._checkpoint.cancel()
        connections = [*self._readers, *([self._writer] if self._writer else [])]
        direct, self._direct, self._starting = self._direct, None, None
        self._readers, self._writer, self._writer_ready = [], None, None
        for connection in connections:
            with contextlib.suppress(Exception):
                await connection.close()
        if direct is not None:  # the last one to close checkpoints: not on the loop
            await asyncio.to_thread(direct.close)


class _SQLiteTransaction:
    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    async def fetch(self, sql: str, args: Sequence[Any]) -> Rows:
        return await self._connection.execute_fetchall(sql, args)  # type: ignore[return-value]

    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> None:
        await self._connection.executemany(sql, args)
