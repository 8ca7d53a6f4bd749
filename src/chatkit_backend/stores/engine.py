"""Store URLs and async engines: SQLite (aiosqlite) and PostgreSQL (asyncpg).

URLs without a driver mean the async one: ``sqlite:///chat.db`` is
``sqlite+aiosqlite:///chat.db`` and ``postgresql://...`` (or ``postgres://...``) is
``postgresql+asyncpg://...``. Building an engine does no I/O; it connects on first use.

The SQLAlchemy engines built here migrate and check the schema (``db upgrade``, a
store's ``open()``); a store's own calls run on its pool of raw driver connections
(``chatkit_backend.stores.connections``), configured the same way.

SQLite connections run in WAL mode with a busy timeout and foreign keys on. SQLAlchemy,
not the ``sqlite3`` module, decides how a transaction begins, per connection, through the
``SQLITE_BEGIN`` execution option:

- ``"IMMEDIATE"``: ``BEGIN IMMEDIATE`` takes the write lock up front, so two processes
  never deadlock upgrading a read lock; the busy timeout makes them queue. For writes of
  several statements, and migrations (DDL is transactional on SQLite this way).
- ``"NONE"``: no ``BEGIN``; each statement is its own transaction. For work done in one
  statement (every read, and single-statement upserts), saving the round trips to the
  aiosqlite thread that ``BEGIN`` costs. A writing statement takes the write lock when it
  starts, under the busy timeout, like ``BEGIN IMMEDIATE``.
- anything else (the default): ``BEGIN``, a deferred transaction.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from chatkit_backend.stores.errors import DatabaseURLError

StoreKind = Literal["memory", "sqlite", "postgresql"]
SQLITE_BEGIN = "chatkit_sqlite_begin"
ACCEPTED_URLS = (
    "memory://, sqlite:///path.db (sqlite+aiosqlite:///path.db) or "
    "postgresql://user:password@host:5432/db (postgresql+asyncpg://...)"
)
_SQLITE_DRIVERS = {"sqlite", "sqlite+aiosqlite"}
_POSTGRES_DRIVERS = {"postgresql", "postgres", "postgresql+asyncpg", "postgres+asyncpg"}


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Connection settings; pool settings apply to PostgreSQL and SQLite alike."""

    pool_size: int = 5
    max_overflow: int = 10
    pool_timeout: float = 10.0
    connect_timeout: float = 10.0
    busy_timeout_ms: int = 5000
    statement_timeout: float = 10.0


class EngineKeywords(TypedDict, total=False):
    """``EngineOptions`` as keyword arguments (of ``SQLStore`` and ``open_store``)."""

    pool_size: int
    max_overflow: int
    pool_timeout: float
    connect_timeout: float
    busy_timeout_ms: int
    statement_timeout: float


def store_kind(url: str) -> StoreKind:
    """Which store a URL selects; raises ``DatabaseURLError`` for any other URL."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == "memory":
        return "memory"
    return "sqlite" if parse_database_url(url).get_backend_name() == "sqlite" else "postgresql"


def parse_database_url(url: str) -> URL:
    """The SQLAlchemy URL with its async driver, or ``DatabaseURLError`` naming what is wrong."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseURLError(f"cannot parse the database URL; use {ACCEPTED_URLS}") from None
    name = parsed.drivername.lower()
    if name in _SQLITE_DRIVERS:
        database = parsed.database or ""
        if (
            database in ("", ":memory:")
            or "mode=memory" in database
            or parsed.query.get("mode") == "memory"
        ):
            raise DatabaseURLError(
                "an in-memory SQLite database is not supported (each connection would get its "
                "own); use memory:// for an in-memory store or sqlite:///path.db for a file"
            )
        return parsed.set(drivername="sqlite+aiosqlite")
    if name in _POSTGRES_DRIVERS:
        return parsed.set(drivername="postgresql+asyncpg")
    if name.startswith(("sqlite+", "postgresql+", "postgres+")):
        backend, _, driver = name.partition("+")
        raise DatabaseURLError(
            f"the {driver!r} driver is not supported for {backend}; this backend uses async "
            f"drivers: {ACCEPTED_URLS}"
        )
    raise DatabaseURLError(
        f"unsupported database URL scheme {parsed.drivername!r}; use {ACCEPTED_URLS}"
    )


def sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL (None for PostgreSQL and ``file:`` URIs)."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or not database or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def driver_dsn(url: URL) -> str:
    """What the raw driver connects to: the SQLite file path, or asyncpg's DSN."""
    if url.get_backend_name() == "sqlite":
        return url.database or ""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def display_url(url: str | URL) -> str:
    """The URL with its password hidden, for messages and logs."""
    if isinstance(url, str):
        if url.startswith("memory:"):
            return url
        try:
            url = make_url(url)
        except ArgumentError:
            return "<unparseable URL>"
    return url.render_as_string(hide_password=True)


def build_engine(url: URL, options: EngineOptions, *, pooled: bool = True) -> AsyncEngine:
    """An async engine for a parsed URL; no connection is made until first use.

    ``pooled=False``: a connection per use, closed after it (``NullPool``), and no
    statement timeout, for an engine that only migrates and checks the schema (a
    migration may take long; ``SQLStore`` runs its own statements on its own pool,
    ``chatkit_backend.stores.connections``). A pooled PostgreSQL engine bounds every
    statement by ``options.statement_timeout``.
    """
    pool: dict[str, Any] = (
        {
            "pool_size": options.pool_size,
            "max_overflow": options.max_overflow,
            "pool_timeout": options.pool_timeout,
        }
        if pooled
        else {"poolclass": NullPool}
    )
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(
            url, connect_args={"timeout": options.busy_timeout_ms / 1000}, **pool
        )
        _configure_sqlite(engine, options.busy_timeout_ms)
        return engine
    return create_async_engine(
        url,
        pool_pre_ping=pooled,
        connect_args={
            "timeout": options.connect_timeout,
            "server_settings": {"application_name": "chatkit-backend"},
            **({"command_timeout": options.statement_timeout} if pooled else {}),
        },
        **pool,
    )


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    """WAL, busy timeout, foreign keys; SQLAlchemy emits BEGIN as ``SQLITE_BEGIN`` says."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
        if mode == "IMMEDIATE":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif mode != "NONE":
            connection.exec_driver_sql("BEGIN")
