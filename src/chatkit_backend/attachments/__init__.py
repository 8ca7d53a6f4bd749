"""Attachments: one ``AttachmentStore`` over two storage backends (local disk, S3), served
to their owner only, read for the model."""

from chatkit_backend.attachments.factory import (
    attachment_store_from_settings,
    storage_from_settings,
)
from chatkit_backend.attachments.prune import prune, prune_stale_uploads, start_pruning
from chatkit_backend.attachments.storage import Storage
from chatkit_backend.attachments.store import BackendAttachmentStore, PruneResult, StoredContent

__all__ = [
    "BackendAttachmentStore",
    "PruneResult",
    "Storage",
    "StoredContent",
    "attachment_store_from_settings",
    "prune",
    "prune_stale_uploads",
    "start_pruning",
    "storage_from_settings",
]
