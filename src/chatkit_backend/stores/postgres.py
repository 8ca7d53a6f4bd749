"""The PostgreSQL pool of ``SQLStore``: asyncpg connections (see ``stores/connections.py``
for the interface both pools share). A module of its own so a SQLite deployment never
imports asyncpg."""

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg

from chatkit_backend.stores.connections import OVERFLOW_IDLE_SECONDS, Rows, Transaction
from chatkit_backend.stores.engine import EngineOptions
from chatkit_backend.stores.errors import StoreUnavailableError, report_unavailable

logger = logging.getLogger("chatkit_backend.stores")
T = TypeVar("T")

FOREIGN_KEY_VIOLATION = asyncpg.ForeignKeyViolationError


# -- PostgreSQL -----------------------------------------------------------------------------
BROKEN_CONNECTION: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionError included
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.InterfaceError,  # "connection is closed", protocol out of step
    asyncpg.CannotConnectNowError,  # the server is starting up
    asyncpg.AdminShutdownError,  # the server is shutting down, or a failover
    asyncpg.CrashShutdownError,
)
"""Errors after which a connection is no use: it is discarded, never returned to the pool."""


class PostgresDatabase:
    """asyncpg connections, ``pool_size`` kept and up to ``max_overflow`` more on demand
    (closed after idling ``OVERFLOW_IDLE_SECONDS``). Statements are prepared once per
    connection (asyncpg's statement cache) and every one runs under ``statement_timeout``."""

    def __init__(self, dsn: str, options: EngineOptions, display_url: str) -> None:
        self.dsn = dsn
        self.options = options
        self.display_url = display_url
        self.capacity = options.pool_size + options.max_overflow
        self.opened = 0
        self._idle: deque[tuple[asyncpg.Connection, float]] = deque()
        self._size = 0  # open connections, idle or in use, or being opened
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    # -- the pool -----------------------------------------------------------------------
    async def _acquire(self) -> tuple[asyncpg.Connection, bool]:
        """A connection and whether it is new; waits ``pool_timeout`` for one to free up."""
        deadline: float | None = None
        while True:
            if self._closed:
                raise StoreUnavailableError("the store is closed")
            while self._idle:
                connection, _ = self._idle.pop()  # the most recently used: warm, surely open
                if not connection.is_closed():
                    return connection, False
                self._size -= 1  # closed by the server while idle (restart, idle timeout)
            if self._size < self.capacity:
                return await self._open(), True
            if deadline is None:
                deadline = time.monotonic() + self.options.pool_timeout
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise report_unavailable(
                    f"no database connection became free within {self.options.pool_timeout:g} s "
                    f"(pool size {self.options.pool_size} + {self.options.max_overflow})",
                    None,
                )
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(remaining):
                    await waiter
            except TimeoutError:
                pass
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # woken, but leaving: hand the turn to the next waiter
                raise
            finally:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)

    async def _open(self) -> asyncpg.Connection:
        self._size += 1
        self.opened += 1
        try:
            return await asyncpg.connect(
                self.dsn,
                timeout=self.options.connect_timeout,
                command_timeout=self.options.statement_timeout,
                server_settings={"application_name": "chatkit-backend"},
            )
        except BaseException as exc:
            self._size -= 1
            self._wake()
            if isinstance(exc, TimeoutError | asyncpg.PostgresError) or _broken(exc):
                raise report_unavailable(
                    f"cannot reach the database at {self.display_url}: "
                    f"{_describe(exc, self.options.connect_timeout)}",
                    exc,
                ) from None
            raise

    def _release(self, connection: asyncpg.Connection) -> None:
        if self._closed or connection.is_closed() or connection.is_in_transaction():
            self._discard(connection)
            return
        now = time.monotonic()
        self._idle.append((connection, now))
        if len(self._idle) > self.options.pool_size:  # overflow: close those idle too long
            oldest, since = self._idle[0]
            if now - since > OVERFLOW_IDLE_SECONDS:
                self._idle.popleft()
                self._discard(oldest)
        self._wake()

    def _discard(self, connection: asyncpg.Connection) -> None:
        """Close a connection without waiting (the server rolls back what it held open)."""
        connection.terminate()
        self._size -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    # -- calls --------------------------------------------------------------------------
    async def _run(self, call: Callable[[asyncpg.Connection], Awaitable[T]], *, retry: bool) -> T:
        """Run ``call`` on a pooled connection; a connection that turns out broken is
        discarded and, when ``retry``, the call runs once more on a new one."""
        while True:
            connection, fresh = await self._acquire()
            try:
                result = await call(connection)
            except BaseException as exc:
                if _broken(exc) and not fresh and retry:
                    self._discard(connection)  # broke while idle: try a new one, once
                    retry = False
                    continue
                if _clean(exc) and not connection.is_in_transaction():
                    self._release(connection)  # an SQL error (constraint, ...): still fine
                else:
                    self._discard(connection)  # cancelled, timed out, broken: never reused
                translated = self._translate(exc)
                if translated is exc:
                    raise
                raise translated from exc
            self._release(connection)
            return result

    def _translate(self, exc: BaseException) -> BaseException:
        if isinstance(exc, TimeoutError | asyncpg.QueryCanceledError):
            return report_unavailable(
                f"the database at {self.display_url} did not answer within "
                f"{self.options.statement_timeout:g} s",
                exc,
            )
        if _broken(exc):
            return report_unavailable(
                f"lost the connection to the database at {self.display_url}: {type(exc).__name__}",
                exc,
            )
        return exc

    async def read(self, sql: str, args: Sequence[Any]) -> Rows:
        return await self._run(lambda connection: connection.fetch(sql, *args), retry=True)

    async def write(self, sql: str, args: Sequence[Any], *, idempotent: bool = True) -> Rows:
        return await self._run(lambda connection: connection.fetch(sql, *args), retry=idempotent)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        connection, _ = await self._acquire()
        reusable = False  # committed, or rolled back cleanly
        try:
            transaction = connection.transaction()
            await transaction.start()
            try:
                yield _PostgresTransaction(connection)
            except BaseException as exc:
                if _clean(exc):  # an SQL error or our own (not found, ...): roll back
                    await transaction.rollback()
                    reusable = True
                raise
            await transaction.commit()
            reusable = True
        except BaseException as exc:
            if reusable:
                self._release(connection)
            else:
                self._discard(connection)
            translated = self._translate(exc)
            if translated is exc:
                raise
            raise translated from exc
        self._release(connection)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = list(self._idle), deque()
        for connection, _ in idle:
            self._size -= 1
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 2)
            if not connection.is_closed():
                connection.terminate()
        self._wake()


class _PostgresTransaction:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def fetch(self, sql: str, args: Sequence[Any]) -> Rows:
        return await self._connection.fetch(sql, *args)  # type: ignore[no-any-return]

    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> None:
        await self._connection.executemany(sql, args)


def _broken(exc: BaseException) -> bool:
    """The connection is no use after ``exc`` (a timeout is not retried: it would wait twice)."""
    return isinstance(exc, BROKEN_CONNECTION) and not isinstance(exc, TimeoutError)


def _clean(exc: BaseException) -> bool:
    """An error that leaves the connection usable: not cancellation, a timeout or a break."""
    return (
        isinstance(exc, Exception)
        and not isinstance(exc, TimeoutError | asyncpg.QueryCanceledError)
        and not _broken(exc)
    )


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    return type(exc).__name__
