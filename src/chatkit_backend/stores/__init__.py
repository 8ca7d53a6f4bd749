"""Stores: where threads, items, attachments and feedback live.

``open_store(url)`` picks one by URL: ``memory://`` (``MemoryStore``), or ``SQLStore`` on
``sqlite:///path.db`` or ``postgresql://...``. The semantics every store keeps (order,
cursors, ownership, upserts, datetimes) are written in ``chatkit_backend.stores.base``.

``SQLStore``, ``open_store`` and ``store_from_settings`` are imported on first use, so
importing this package (as the server does, for ``BackendStore``) does not load
SQLAlchemy and the database drivers (about a second) until a SQL store is built.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from chatkit_backend.stores.base import (
    BackendStore,
    Feedback,
    OwnedAttachment,
    OwnedThread,
    generate_id,
)
from chatkit_backend.stores.errors import (
    DatabaseURLError,
    InvalidPageError,
    SchemaOutOfDateError,
    StoreNotFoundError,
    StoreUnavailableError,
)
from chatkit_backend.stores.memory import MemoryStore

if TYPE_CHECKING:
    from chatkit_backend.stores.factory import open_store, store_from_settings
    from chatkit_backend.stores.sql import SQLStore

__all__ = [
    "BackendStore",
    "DatabaseURLError",
    "Feedback",
    "InvalidPageError",
    "MemoryStore",
    "OwnedAttachment",
    "OwnedThread",
    "SQLStore",
    "SchemaOutOfDateError",
    "StoreNotFoundError",
    "StoreUnavailableError",
    "generate_id",
    "open_store",
    "store_from_settings",
]

_LAZY = {
    "SQLStore": "chatkit_backend.stores.sql",
    "open_store": "chatkit_backend.stores.factory",
    "store_from_settings": "chatkit_backend.stores.factory",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module), name)
