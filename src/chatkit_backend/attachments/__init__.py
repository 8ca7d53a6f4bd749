"""Attachments: files on the local disk, served to their owner only, read for the model."""

from chatkit_backend.attachments.factory import attachment_store_from_settings
from chatkit_backend.attachments.local import LocalAttachmentStore, PruneResult, StoredContent
from chatkit_backend.attachments.prune import prune, prune_stale_uploads, start_pruning

__all__ = [
    "LocalAttachmentStore",
    "PruneResult",
    "StoredContent",
    "attachment_store_from_settings",
    "prune",
    "prune_stale_uploads",
    "start_pruning",
]
