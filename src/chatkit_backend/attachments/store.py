"""``BackendAttachmentStore``: the SDK's ``AttachmentStore`` over any ``Storage`` backend.

Rows (name, type, thread, bookkeeping) live in the ``BackendStore``; bytes live in the
storage backend (``disk.py`` or ``s3.py``) under ``<owner key>/<attachment id>``. This
class holds what both share: ownership (another user's attachment is a 404), the size
limit, the allowed types and the image signature check, the upload flows, verification,
deletion and pruning. Our signed URLs come from ``Links``.

Bookkeeping lives in the attachment's ``metadata`` (kept by the store, stripped from
every API response by the SDK's ``exclude_metadata`` serializer context)::

    {"user_id": ..., "declared_size": ..., "uploaded": true, "size": ...,
     "sha256": ... (uploads through this server), "etag": ... (verified objects),
     "uploaded_at": "..."}

An upload that did not pass through this server (a presigned ``PUT`` straight to the
bucket) is verified on its next use (sending it, its content, its preview): the object's
size against ``CHATKIT_MAX_UPLOAD_BYTES`` (413), its stored type against
``CHATKIT_ALLOWED_MIME_TYPES`` and, for images, its first bytes against the declared
format (415). An object that fails is deleted.
"""

import hashlib
import logging
import mimetypes
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chatkit.store import AttachmentStore
from chatkit.store import NotFoundError as StoreNotFoundError
from chatkit.types import (
    Attachment,
    AttachmentCreateParams,
    AttachmentUploadDescriptor,
    FileAttachment,
    ImageAttachment,
)

from chatkit_backend.attachments.disk import DiskStorage
from chatkit_backend.attachments.errors import AttachmentInUseError
from chatkit_backend.attachments.links import Links, not_found
from chatkit_backend.attachments.mime import (
    OCTET_STREAM,
    SNIFF_BYTES,
    is_image,
    mime_allowed,
    normalize_mime,
    sniff_image,
)
from chatkit_backend.attachments.names import content_disposition, sanitize_filename
from chatkit_backend.attachments.storage import Download, ObjectInfo, ObjectWriter, Storage
from chatkit_backend.attachments.uploads import (
    FILE_FIELD,
    Incoming,
    PartInfo,
    check_declared_length,
    is_multipart,
    receive_body,
    too_large,
)
from chatkit_backend.context import RequestContext
from chatkit_backend.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from chatkit_backend.stores.base import BackendStore, owner_of

logger = logging.getLogger("chatkit_backend.attachments")

ATTACHMENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
DOWNLOAD_URL_TTL = 300
"""Seconds a presigned download (or preview) URL stays valid."""


@dataclass(frozen=True, slots=True)
class StoredContent:
    """An uploaded attachment's bytes, ready to serve: a local file or a presigned URL."""

    attachment: Attachment
    download: Download
    sha256: str


@dataclass(frozen=True, slots=True)
class PruneResult:
    attachments: list[str]
    temp_files: int


def owner_key(user_id: str) -> str:
    """The key segment for a user's objects: a hash, so any user id is a safe path segment."""
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:32]


def is_uploaded(attachment: Attachment) -> bool:
    return bool((attachment.metadata or {}).get("uploaded"))


def stale_cutoff(older_than_seconds: float, now: float | None = None) -> datetime:
    """The creation time before which an unsent upload is stale."""
    moment = datetime.now(UTC).timestamp() if now is None else now
    return datetime.fromtimestamp(moment - older_than_seconds, UTC)


class BackendAttachmentStore(AttachmentStore[RequestContext]):
    """Attachments for their owner only, with the bytes in ``storage``."""

    def __init__(
        self,
        storage: Storage,
        store: BackendStore,
        links: Links,
        *,
        max_upload_bytes: int,
        allowed_mime_types: list[str],
        upload_token_ttl: int,
    ) -> None:
        self.storage = storage
        self.store = store
        self.links = links
        self.max_upload_bytes = max_upload_bytes
        self.allowed_mime_types = [pattern.strip().lower() for pattern in allowed_mime_types]
        self.upload_token_ttl = upload_token_ttl

    def key(self, user_id: str, attachment_id: str) -> str:
        """The storage key of a user's attachment; 404 for an id that is not path-safe."""
        if not ATTACHMENT_ID_PATTERN.match(attachment_id):
            raise not_found(attachment_id)
        return f"{owner_key(user_id)}/{attachment_id}"

    def path_for(self, user_id: str, attachment_id: str) -> Path:
        """Where disk storage keeps a user's attachment (``TypeError`` on other storage)."""
        if not isinstance(self.storage, DiskStorage):
            raise TypeError(f"{self.storage.kind} storage keeps no local files")
        return self.storage.path(self.key(user_id, attachment_id))

    def generate_attachment_id(self, mime_type: str, context: RequestContext) -> str:
        return self.store.generate_attachment_id(mime_type, context)

    def _new_id(self, mime_type: str, context: Any) -> str:
        attachment_id = self.generate_attachment_id(mime_type, context)
        if not ATTACHMENT_ID_PATTERN.match(attachment_id):
            raise ValueError(
                f"generated attachment id {attachment_id!r} is not path-safe: ids must match "
                f"{ATTACHMENT_ID_PATTERN.pattern}"
            )
        return attachment_id

    async def aclose(self) -> None:
        """Close the storage's connections."""
        await self.storage.aclose()

    # -- the SDK's AttachmentStore ---------------------------------------------------------
    async def create_attachment(
        self, input: AttachmentCreateParams, context: RequestContext
    ) -> Attachment:
        """Check the declared size (413) and type (415); return the row with its upload descriptor.

        The descriptor is a presigned ``PUT`` straight to the storage where it has one (S3,
        with the ``Content-Type`` header it was signed with), else our signed upload URL.
        Both are valid ``CHATKIT_UPLOAD_TOKEN_TTL`` seconds.
        """
        user_id = owner_of(context)
        if input.size < 0:
            raise InvalidRequestError(f"params.size: must be 0 or more (got {input.size})")
        if input.size > self.max_upload_bytes:
            raise too_large(self.max_upload_bytes)
        mime_type = self.check_mime(input.mime_type)
        attachment_id = self._new_id(mime_type, context)
        base = self.links.base_url(context)
        target = await self.storage.upload_target(
            self.key(user_id, attachment_id), mime_type, self.upload_token_ttl
        )
        if target is None:
            descriptor = AttachmentUploadDescriptor(
                url=self.links.upload_url(base, attachment_id, user_id),  # type: ignore[arg-type]
                method="PUT",
                headers={},
            )
        else:
            descriptor = AttachmentUploadDescriptor(
                url=target.url,  # type: ignore[arg-type]
                method=target.method,
                headers=dict(target.headers),
            )
        return self._build(
            attachment_id,
            sanitize_filename(input.name),
            mime_type,
            base,
            user_id,
            upload_descriptor=descriptor,
            metadata={"user_id": user_id, "declared_size": input.size, "uploaded": False},
        )

    async def delete_attachment(self, attachment_id: str, context: RequestContext) -> None:
        """Remove the bytes (the SDK's handler then deletes the row through the store)."""
        await self.storage.delete([self.key(owner_of(context), attachment_id)])

    # -- reading ---------------------------------------------------------------------------
    async def read_bytes(self, attachment: Attachment, context: Any) -> bytes | None:
        """The attachment's bytes, for the model; ``None`` when they are not there."""
        try:
            key = self.key(owner_of(context), attachment.id)
        except NotFoundError:
            return None
        return await self.storage.read(key)

    async def load(self, attachment_id: str, context: Any) -> Attachment:
        """The user's attachment row; 404 for a missing one or another user's."""
        if not ATTACHMENT_ID_PATTERN.match(attachment_id):
            raise not_found(attachment_id)
        try:
            return await self.store.load_attachment(attachment_id, context)
        except StoreNotFoundError:
            raise not_found(attachment_id) from None

    async def ensure_ready(
        self, attachment_id: str, context: Any, *, thread_id: str | None = None
    ) -> Attachment:
        """The user's attachment, verified and ready to send in a message to ``thread_id``
        (``None``: a new thread).

        Raises ``NotFoundError`` (404) for a missing attachment or another user's,
        ``AttachmentInUseError`` (409 ``attachment_in_use``) for one already sent in
        another thread, ``ConflictError`` (409) for one not uploaded yet, and, for an
        object uploaded straight to the storage that fails verification (then deleted),
        ``PayloadTooLargeError`` (413) or ``UnsupportedMediaTypeError`` (415).
        """
        attachment = await self.load(attachment_id, context)
        if attachment.thread_id is not None and attachment.thread_id != thread_id:
            raise AttachmentInUseError(
                f"attachment {attachment_id!r} was already sent in another thread: "
                "attach the file again to send it here"
            )
        if is_uploaded(attachment):
            return attachment
        verified = await self._verify(attachment, context)
        if verified is None:
            raise ConflictError(f"attachment {attachment_id!r} has not been uploaded yet")
        return verified

    async def open_content(self, attachment_id: str, context: Any) -> StoredContent:
        """The bytes of the user's attachment; 404 when missing or not uploaded yet."""
        attachment = await self.load(attachment_id, context)
        return await self._content(attachment, context)

    async def open_preview(self, attachment_id: str, signature: str) -> StoredContent:
        """An image for a signed preview URL; 404 for any bad signature or non-image."""
        owner = RequestContext(user_id=self.links.preview_owner(signature, attachment_id))
        attachment = await self.load(attachment_id, owner)
        if not isinstance(attachment, ImageAttachment):
            raise not_found(attachment_id)
        return await self._content(attachment, owner)

    async def _content(self, attachment: Attachment, context: Any) -> StoredContent:
        if not is_uploaded(attachment):
            verified = await self._verify(attachment, context)
            if verified is None:
                raise NotFoundError(
                    f"attachment {attachment.id!r} has no content yet: upload it first"
                )
            attachment = verified
        download = await self.storage.download(
            self.key(owner_of(context), attachment.id),
            mime_type=attachment.mime_type,
            disposition=content_disposition(attachment.name, inline=is_image(attachment.mime_type)),
            ttl=DOWNLOAD_URL_TTL,
        )
        if download is None:
            raise NotFoundError(f"attachment {attachment.id!r} has no content")
        sha256 = str((attachment.metadata or {}).get("sha256") or "")
        return StoredContent(attachment=attachment, download=download, sha256=sha256)

    # -- verification ------------------------------------------------------------------------
    async def _verify(self, attachment: Attachment, context: Any) -> Attachment | None:
        """Check an object that arrived without us (see the module docstring) and record it
        as uploaded; ``None`` when there is no object yet."""
        key = self.key(owner_of(context), attachment.id)
        info = await self.storage.stat(key)
        if info is None:
            return None
        try:
            await self._check_object(attachment, key, info)
        except (PayloadTooLargeError, UnsupportedMediaTypeError) as exc:
            await self.storage.delete([key])
            logger.info(
                "deleted %s object of attachment %s: %s",
                self.storage.kind,
                attachment.id,
                exc.message,
                extra={"request_id": getattr(context, "request_id", "")},
            )
            raise
        facts = {
            "uploaded": True,
            "size": info.size,
            "etag": info.etag,
            "uploaded_at": datetime.now(UTC).isoformat(),
        }
        verified = attachment.model_copy(
            update={"upload_descriptor": None, "metadata": {**(attachment.metadata or {}), **facts}}
        )
        await self.store.save_attachment(verified, context)
        return verified

    async def _check_object(self, attachment: Attachment, key: str, info: ObjectInfo) -> None:
        if info.size > self.max_upload_bytes:
            raise too_large(self.max_upload_bytes)
        if info.content_type:
            self.check_mime(info.content_type)
        head = await self.storage.read_head(key, SNIFF_BYTES) if info.size else b""
        self._check_bytes(attachment.mime_type, head)

    # -- uploading through this server -----------------------------------------------------
    async def upload(
        self,
        attachment_id: str,
        token: str,
        body: AsyncIterator[bytes],
        content_type: str | None,
        context: Any,
        *,
        content_length: str | None = None,
    ) -> Attachment:
        """Second phase of a two-phase upload through this server: check the token, store once.

        Checks run in this order: owner (404), token (403), not yet uploaded (409), declared
        length (413), then as the bytes stream: the image signature on the first bytes
        (415), the size (413).
        """
        user_id = owner_of(context)
        attachment = await self.load(attachment_id, context)
        self.links.check_upload_token(token, attachment_id, user_id)
        if is_uploaded(attachment):
            raise self._already_uploaded(attachment_id)
        check_declared_length(content_length, content_type, self.max_upload_bytes)
        key = self.key(user_id, attachment_id)

        async def open_writer(head: bytes) -> ObjectWriter:
            self._check_bytes(attachment.mime_type, head)
            return await self.storage.writer(key, attachment.mime_type)

        async with Incoming(self.max_upload_bytes, open_writer) as incoming:
            await receive_body(body, content_type, incoming)
            if not await incoming.commit():
                raise self._already_uploaded(attachment_id)
        uploaded = attachment.model_copy(
            update={
                "upload_descriptor": None,
                "metadata": {
                    **(attachment.metadata or {}),
                    **self._upload_facts(user_id, incoming),
                },
            }
        )
        return await self._save_uploaded(uploaded, key, context)

    async def direct_upload(
        self,
        body: AsyncIterator[bytes],
        content_type: str | None,
        context: Any,
        *,
        content_length: str | None = None,
    ) -> Attachment:
        """Direct upload: a multipart ``file`` field becomes an attachment in one request.

        The type is the part's, else guessed from its file name, else the image signature
        of its first bytes (415 when none is allowed); the bytes stream to the storage.
        """
        user_id = owner_of(context)
        if not is_multipart(content_type):
            raise UnsupportedMediaTypeError(
                f"direct uploads must be multipart/form-data with a '{FILE_FIELD}' field "
                f"(got {content_type or 'no Content-Type'})"
            )
        check_declared_length(content_length, content_type, self.max_upload_bytes)
        declared: dict[str, str] = {}

        def check_part(part: PartInfo) -> None:
            mime_type = self._declared_type(part)
            if mime_type:
                self.check_mime(mime_type)
            declared["mime_type"] = mime_type
            declared["name"] = sanitize_filename(part.filename)

        async def open_writer(head: bytes) -> ObjectWriter:
            mime_type = self.check_mime(declared["mime_type"] or sniff_image(head) or OCTET_STREAM)
            self._check_bytes(mime_type, head)
            declared["mime_type"] = mime_type
            declared["id"] = self._new_id(mime_type, context)
            return await self.storage.writer(self.key(user_id, declared["id"]), mime_type)

        async with Incoming(self.max_upload_bytes, open_writer) as incoming:
            await receive_body(body, content_type, incoming, check_part)
            if not await incoming.commit():
                raise ConflictError(f"attachment {declared['id']!r} already exists")
        attachment = self._build(
            declared["id"],
            declared["name"],
            declared["mime_type"],
            self.links.base_url(context),
            user_id,
            upload_descriptor=None,
            metadata={
                "user_id": user_id,
                "declared_size": incoming.size,
                **self._upload_facts(user_id, incoming),
            },
        )
        return await self._save_uploaded(attachment, self.key(user_id, declared["id"]), context)

    def upload_context(
        self, token: str, attachment_id: str, *, request_id: str = ""
    ) -> RequestContext:
        """The owner's context for an upload sent without credentials.

        The signed token is the credential, as with a presigned storage URL: browsers
        upload to the descriptor's URL with only the descriptor's headers. It names one
        attachment of one user, expires, and works once.
        """
        claims = self.links.upload_claims(token, attachment_id)
        return RequestContext(user_id=claims.user_id, request_id=request_id)

    async def _save_uploaded(self, attachment: Attachment, key: str, context: Any) -> Attachment:
        try:
            await self.store.save_attachment(attachment, context)
        except BaseException:
            await self.storage.delete([key])
            raise
        return attachment

    @staticmethod
    def _upload_facts(user_id: str, incoming: Incoming) -> dict[str, Any]:
        return {
            "user_id": user_id,
            "uploaded": True,
            "size": incoming.size,
            "sha256": incoming.sha256,
            "uploaded_at": datetime.now(UTC).isoformat(),
        }

    @staticmethod
    def _already_uploaded(attachment_id: str) -> ConflictError:
        return ConflictError(
            f"attachment {attachment_id!r} was already uploaded: upload URLs work once"
        )

    # -- validation ------------------------------------------------------------------------
    def check_mime(self, declared: str) -> str:
        """The normalised type if it is allowed; 415 otherwise."""
        mime_type = normalize_mime(declared)
        if not mime_type:
            raise UnsupportedMediaTypeError(f"attachment has no valid MIME type (got {declared!r})")
        if not mime_allowed(mime_type, self.allowed_mime_types):
            allowed = ", ".join(self.allowed_mime_types) or "none"
            raise UnsupportedMediaTypeError(
                f"attachment type {mime_type!r} is not allowed; allowed: {allowed} "
                "(CHATKIT_ALLOWED_MIME_TYPES)"
            )
        return mime_type

    @staticmethod
    def _check_bytes(mime_type: str, head: bytes) -> None:
        """An image must start with its type's signature (415 otherwise)."""
        if not is_image(mime_type):
            return
        found = sniff_image(head)
        if found is None:
            raise UnsupportedMediaTypeError(
                f"file is declared as {mime_type} but its bytes are not an image"
            )
        if found != mime_type:
            raise UnsupportedMediaTypeError(
                f"file is declared as {mime_type} but its bytes are {found}"
            )

    @staticmethod
    def _declared_type(part: PartInfo) -> str:
        """The part's own type, else one guessed from its file name; empty when unknown.

        ``application/octet-stream`` counts as unknown: the bytes' signature may say more.
        """
        mime_type = normalize_mime(part.content_type)
        if mime_type and mime_type != OCTET_STREAM:
            return mime_type
        guessed = mimetypes.guess_type(part.filename, strict=False)[0] if part.filename else None
        guessed = normalize_mime(guessed)
        return guessed if guessed != OCTET_STREAM else ""

    # -- building --------------------------------------------------------------------------
    def _build(
        self,
        attachment_id: str,
        name: str,
        mime_type: str,
        base: str,
        user_id: str,
        *,
        upload_descriptor: AttachmentUploadDescriptor | None,
        metadata: dict[str, Any],
    ) -> Attachment:
        if is_image(mime_type):
            return ImageAttachment(
                id=attachment_id,
                name=name,
                mime_type=mime_type,
                upload_descriptor=upload_descriptor,
                preview_url=self.links.preview_url(base, attachment_id, user_id),  # type: ignore[arg-type]
                metadata=metadata,
            )
        return FileAttachment(
            id=attachment_id,
            name=name,
            mime_type=mime_type,
            upload_descriptor=upload_descriptor,
            metadata=metadata,
        )

    # -- files the model made -----------------------------------------------------------------
    async def save_generated(
        self, data: bytes, mime_type: str, name: str, context: Any, *, thread_id: str
    ) -> Attachment:
        """Keep bytes the model made (an image from image generation) as an attachment of
        one of the user's threads: deleted with the thread, never pruned as a stale upload.

        Returns the attachment; an image's ``preview_url`` is what the thread item shows.
        The type is the caller's (not checked against ``CHATKIT_ALLOWED_MIME_TYPES``, which
        is about what users may upload).
        """
        user_id = owner_of(context)
        attachment_id = self._new_id(mime_type, context)
        key = self.key(user_id, attachment_id)
        writer = await self.storage.writer(key, mime_type)
        try:
            await writer.write(data)
            if not await writer.commit():
                raise ConflictError(f"attachment {attachment_id!r} already exists")
        except BaseException:
            await writer.abort()
            raise
        attachment = self._build(
            attachment_id,
            sanitize_filename(name),
            mime_type,
            self.links.base_url(context),
            user_id,
            upload_descriptor=None,
            metadata={
                "user_id": user_id,
                "declared_size": len(data),
                "uploaded": True,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "uploaded_at": datetime.now(UTC).isoformat(),
                "generated": True,
            },
        ).model_copy(update={"thread_id": thread_id})
        return await self._save_uploaded(attachment, key, context)

    # -- lifecycle -------------------------------------------------------------------------
    async def delete(self, attachment_id: str, context: Any) -> None:
        """Remove the user's attachment, bytes and row (404 for a missing one or another user's)."""
        await self.load(attachment_id, context)
        await self.delete_attachment(attachment_id, context)
        await self.store.delete_attachment(attachment_id, context)

    async def delete_thread(
        self,
        thread_id: str,
        context: Any,
        *,
        delete_rows: Callable[[], Awaitable[object]] | None = None,
    ) -> int:
        """Delete one of the user's threads with its attachments' bytes; the number of objects removed.

        The thread's attachments are listed first, then ``delete_rows`` removes the thread,
        its items and its attachment rows (default: ``store.delete_thread``; the dispatcher
        passes the server's own handler), then the objects go. A thread that is not the
        user's has no attachments here, and the store's ``delete_thread`` is a no-op for it.
        Each attachment belongs to one thread (``ensure_ready`` refuses to send it in
        another), so no other thread's message loses its file.
        """
        user_id = owner_of(context)
        attachments = await self.store.admin_thread_attachments(user_id, thread_id)
        keys = [
            self.key(user_id, attachment.id)
            for attachment in attachments
            if ATTACHMENT_ID_PATTERN.match(attachment.id)
        ]
        if delete_rows is None:
            await self.store.delete_thread(thread_id, context)
        else:
            await delete_rows()
        return await self.storage.delete(keys) if keys else 0

    async def thread_object_count(self, thread_id: str, context: Any) -> int:
        """How many attachments bound to one of the user's threads (what ``delete_thread`` removes)."""
        return len(await self.store.admin_thread_attachments(owner_of(context), thread_id))

    async def prune_stale(self, created_before: datetime) -> PruneResult:
        """Remove uploads never sent in a message and created before the cutoff (bytes, then
        rows), and uploads left unfinished before it."""
        stale = await self.store.admin_stale_attachments(created_before)
        keys = [
            self.key(owned.user_id, owned.attachment.id)
            for owned in stale
            if ATTACHMENT_ID_PATTERN.match(owned.attachment.id)
        ]
        if keys:
            await self.storage.delete(keys)
        removed: list[str] = []
        for owned in stale:
            await self.store.delete_attachment(
                owned.attachment.id, RequestContext(user_id=owned.user_id)
            )
            removed.append(owned.attachment.id)
        partial = await self.storage.prune_partial(created_before)
        if removed or partial:
            logger.info("pruned %d stale attachments and %d partial uploads", len(removed), partial)
        return PruneResult(attachments=removed, temp_files=partial)
