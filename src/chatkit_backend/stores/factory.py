"""Pick a store from a URL or from the settings."""

from typing import TYPE_CHECKING, Unpack

from chatkit_backend.settings import Settings
from chatkit_backend.stores.base import BackendStore
from chatkit_backend.stores.memory import MemoryStore

if TYPE_CHECKING:
    from chatkit_backend.stores.engine import EngineKeywords


def open_store(
    url: str, *, auto_upgrade: bool | None = None, **options: "Unpack[EngineKeywords]"
) -> BackendStore:
    """The store a URL names: ``memory://``, ``sqlite:///path.db`` or ``postgresql://...``.

    No I/O happens here; ``await store.open()`` (or the first call) connects and, when
    ``auto_upgrade`` (default: on for SQLite, off for PostgreSQL), migrates.
    """
    if url.partition("://")[0].lower() == "memory":  # as store_kind, without SQLAlchemy
        return MemoryStore()
    from chatkit_backend.stores.sql import SQLStore  # SQLAlchemy and the drivers: only now

    return SQLStore(url, auto_upgrade=auto_upgrade, **options)


def store_from_settings(settings: Settings) -> BackendStore:
    """The store of ``CHATKIT_DATABASE_URL`` (default: SQLite in the data folder)."""
    return open_store(
        settings.resolved_database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        connect_timeout=settings.db_connect_timeout,
        busy_timeout_ms=settings.db_busy_timeout_ms,
        statement_timeout=settings.db_statement_timeout,
        auto_upgrade=settings.db_auto_upgrade,
    )
