"""Stores: where threads, items, attachments and feedback live.

``open_store(url)`` picks one by URL: ``memory://`` (``MemoryStore``), or ``SQLStore`` on
``sqlite:///path.db`` or ``postgresql://...``. The semantics every store keeps (order,
cursors, ownership, upserts, datetimes) are written in ``chatkit_backend.stores.base``.
"""

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
from chatkit_backend.stores.factory import open_store, store_from_settings
from chatkit_backend.stores.memory import MemoryStore
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
