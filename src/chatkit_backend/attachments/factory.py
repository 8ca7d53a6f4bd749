"""Building the attachment store (and its storage backend) from settings."""

from urllib.parse import unquote, urlsplit

from chatkit_backend.attachments.disk import DiskStorage
from chatkit_backend.attachments.links import Links
from chatkit_backend.attachments.storage import Storage
from chatkit_backend.attachments.store import BackendAttachmentStore
from chatkit_backend.attachments.tokens import TokenSigner, load_secret
from chatkit_backend.settings import Settings, SettingsError
from chatkit_backend.stores.base import BackendStore

S3_EXTRA_HINT = "pip install 'chatkit-backend[s3]'"


def storage_from_settings(settings: Settings) -> Storage:
    """The backend ``CHATKIT_ATTACHMENTS_URL`` names: ``file:///path`` or ``s3://bucket/prefix``.

    Raises ``SettingsError`` for ``s3://`` when the ``s3`` extra (aiobotocore) is missing.
    """
    url = settings.resolved_attachments_url
    parts = urlsplit(url)
    if parts.scheme == "s3":
        try:
            from chatkit_backend.attachments.s3 import S3Storage
        except ImportError:
            raise SettingsError(
                f"CHATKIT_ATTACHMENTS_URL: s3:// needs the s3 extra (aiobotocore): {S3_EXTRA_HINT}"
            ) from None
        return S3Storage(
            parts.netloc,
            unquote(parts.path),
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
        )
    root = settings.resolved_attachments_dir
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return DiskStorage(root)


def browser_origins(settings: Settings) -> list[str]:
    """Origins a browser talks to for attachment bytes besides ours: the bucket's, on S3
    (presigned uploads and downloads), for a page's ``connect-src``. Empty on disk storage."""
    url = settings.resolved_attachments_url
    if not settings.attachments or not url.startswith("s3:"):
        return []
    if settings.s3_endpoint_url:
        endpoint = urlsplit(settings.s3_endpoint_url)
        return [f"{endpoint.scheme}://{endpoint.netloc}"]
    bucket = urlsplit(url).netloc
    if settings.s3_region:
        return [f"https://{bucket}.s3.{settings.s3_region}.amazonaws.com"]
    return ["https://*.amazonaws.com"]  # the region comes from the AWS configuration


def attachment_store_from_settings(
    settings: Settings, store: BackendStore
) -> BackendAttachmentStore:
    """A ``BackendAttachmentStore`` on the storage of ``CHATKIT_ATTACHMENTS_URL``."""
    links = Links(
        TokenSigner(load_secret(settings)),
        upload_token_ttl=settings.upload_token_ttl,
        public_url=settings.public_url,
        fallback_origin=settings.server_origin,
    )
    return BackendAttachmentStore(
        storage_from_settings(settings),
        store,
        links,
        max_upload_bytes=settings.max_upload_bytes,
        allowed_mime_types=settings.allowed_mime_types,
        upload_token_ttl=settings.upload_token_ttl,
    )
