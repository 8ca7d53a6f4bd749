"""Pick a store from a URL or from the settings."""

from typing import Unpack

from chatkit_backend.settings import Settings
from chatkit_backend.stores.base import BackendStore
from chatkit_backend.stores.engine import EngineKeywords, store_kind
from chatkit_backend.stores.memory import MemoryStore
from chatkit_backend.stores.sql import SQLStore


def open_store(
    url: str, *, auto_upgrade: bool | None = None, **options: Unpack[EngineKeywords]
) -> BackendStore:
    """The store a URL names: ``memory://``, ``sqlite:///path.db`` or ``postgresql://...``.

    No I/O happens here; ``await store.open()`` (or the first call) connects and, when
    ``auto_upgrade`` (default: on for SQLite, off for PostgreSQL), migrates.
    """
    if store_kind(url) == "memory":
        return MemoryStore()
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
        auto_upgrade=settings.db_auto_upgrade,
    )
