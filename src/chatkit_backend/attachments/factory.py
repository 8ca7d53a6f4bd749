"""Building the attachment store from settings."""

from chatkit_backend.attachments.local import LocalAttachmentStore
from chatkit_backend.attachments.tokens import TokenSigner, load_secret
from chatkit_backend.settings import Settings
from chatkit_backend.stores.base import BackendStore


def attachment_store_from_settings(settings: Settings, store: BackendStore) -> LocalAttachmentStore:
    """A ``LocalAttachmentStore`` in ``CHATKIT_ATTACHMENTS_DIR`` (default ``<data_dir>/attachments``)."""
    root = settings.resolved_attachments_dir
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return LocalAttachmentStore(
        root,
        store,
        TokenSigner(load_secret(settings)),
        max_upload_bytes=settings.max_upload_bytes,
        allowed_mime_types=settings.allowed_mime_types,
        upload_token_ttl=settings.upload_token_ttl,
        public_url=settings.public_url,
        fallback_origin=settings.server_origin,
    )
