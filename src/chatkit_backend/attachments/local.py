"""``LocalAttachmentStore``: attachment bytes in a folder, rows in the ``BackendStore``.

Layout: ``<root>/<owner key>/<attachment id>``, where the owner key is a hash of the
user id, and ``<root>/.tmp/`` for uploads in progress. Client file names never reach
the file system; ids are checked against a strict pattern before any path is built.

Bookkeeping lives in the attachment's ``metadata`` (kept by the store, stripped from
every API response by the SDK's ``exclude_metadata`` serializer context)::

    {"user_id": ..., "declared_size": ..., "uploaded": true, "size": ..., "sha256": ...,
     "uploaded_at": "..."}
"""

import asyncio
import hashlib
import logging
import mimetypes
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from chatkit.store import AttachmentStore
from chatkit.store import NotFoundError as StoreNotFoundError
from chatkit.types import (
    Attachment,
    AttachmentCreateParams,
    AttachmentUploadDescriptor,
    FileAttachment,
    ImageAttachment,
)

from chatkit_backend.attachments.errors import UploadTokenError
from chatkit_backend.attachments.mime import (
    OCTET_STREAM,
    is_image,
    mime_allowed,
    normalize_mime,
    sniff_image,
)
from chatkit_backend.attachments.names import sanitize_filename
from chatkit_backend.attachments.tokens import TokenError, TokenSigner
from chatkit_backend.attachments.uploads import (
    FILE_FIELD,
    PartInfo,
    TempUpload,
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
    UnsupportedMediaTypeError,
)
from chatkit_backend.stores.base import BackendStore, owner_of

logger = logging.getLogger("chatkit_backend.attachments")

ATTACHMENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
TEMP_DIR_NAME = ".tmp"


@dataclass(frozen=True, slots=True)
class StoredContent:
    """An uploaded attachment's file, ready to serve."""

    attachment: Attachment
    path: Path
    stat: os.stat_result
    sha256: str


@dataclass(frozen=True, slots=True)
class PruneResult:
    attachments: list[str]
    temp_files: int


def owner_key(user_id: str) -> str:
    """The folder name for a user's files: a hash, so any user id is a safe path segment."""
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:32]


def not_found(attachment_id: str) -> NotFoundError:
    return NotFoundError(f"attachment {attachment_id!r} not found")


def is_uploaded(attachment: Attachment) -> bool:
    return bool((attachment.metadata or {}).get("uploaded"))


class LocalAttachmentStore(AttachmentStore[RequestContext]):
    """Stores attachment files on the local disk, for their owner only."""

    def __init__(
        self,
        root: Path,
        store: BackendStore,
        signer: TokenSigner,
        *,
        max_upload_bytes: int,
        allowed_mime_types: list[str],
        upload_token_ttl: int,
        public_url: str | None = None,
        fallback_origin: str = "http://127.0.0.1:8000",
    ) -> None:
        self.root = root
        self.store = store
        self.signer = signer
        self.max_upload_bytes = max_upload_bytes
        self.allowed_mime_types = [pattern.strip().lower() for pattern in allowed_mime_types]
        self.upload_token_ttl = upload_token_ttl
        self.public_url = public_url.rstrip("/") if public_url else None
        self.fallback_origin = fallback_origin.rstrip("/")

    @property
    def temp_dir(self) -> Path:
        return self.root / TEMP_DIR_NAME

    def path_for(self, user_id: str, attachment_id: str) -> Path:
        """Where a user's attachment file lives; ``NotFoundError`` for an id that is not path-safe."""
        if not ATTACHMENT_ID_PATTERN.match(attachment_id):
            raise not_found(attachment_id)
        return self.root / owner_key(user_id) / attachment_id

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

    # -- the SDK's AttachmentStore ---------------------------------------------------------
    async def create_attachment(
        self, input: AttachmentCreateParams, context: RequestContext
    ) -> Attachment:
        """Validate the declared size and type; return the row with a signed upload URL."""
        user_id = owner_of(context)
        if input.size < 0:
            raise InvalidRequestError(f"params.size: must be 0 or more (got {input.size})")
        if input.size > self.max_upload_bytes:
            raise too_large(self.max_upload_bytes)
        mime_type = self.check_mime(input.mime_type)
        attachment_id = self._new_id(mime_type, context)
        token = self.signer.sign("upload", attachment_id, user_id, ttl=self.upload_token_ttl)
        base = self.base_url(context)
        descriptor = AttachmentUploadDescriptor(
            url=f"{base}/attachments/{quote(attachment_id)}/upload?token={token}",  # type: ignore[arg-type]
            method="PUT",
            headers={},
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
        """Remove the file (the SDK's handler then deletes the row through the store)."""
        await asyncio.to_thread(self._unlink, self.path_for(owner_of(context), attachment_id))

    # -- reading ---------------------------------------------------------------------------
    async def read_bytes(self, attachment: Attachment, context: Any) -> bytes | None:
        """The attachment's bytes, for the model; ``None`` when it was never uploaded."""
        try:
            path = self.path_for(owner_of(context), attachment.id)
            return await asyncio.to_thread(path.read_bytes)
        except (NotFoundError, FileNotFoundError):
            return None

    async def load(self, attachment_id: str, context: Any) -> Attachment:
        """The user's attachment row; 404 for a missing one or another user's."""
        if not ATTACHMENT_ID_PATTERN.match(attachment_id):
            raise not_found(attachment_id)
        try:
            return await self.store.load_attachment(attachment_id, context)
        except StoreNotFoundError:
            raise not_found(attachment_id) from None

    async def open_content(self, attachment_id: str, context: Any) -> StoredContent:
        """The uploaded file of the user's attachment; 404 when missing or not uploaded yet."""
        attachment = await self.load(attachment_id, context)
        return await self._content(attachment, owner_of(context))

    async def open_preview(self, attachment_id: str, signature: str) -> StoredContent:
        """An image's file for a signed preview URL; 404 for any bad signature or non-image."""
        try:
            claims = self.signer.verify(signature, "preview")
        except TokenError:
            raise not_found(attachment_id) from None
        if claims.attachment_id != attachment_id:
            raise not_found(attachment_id)
        owner = RequestContext(user_id=claims.user_id)
        attachment = await self.load(attachment_id, owner)
        if not isinstance(attachment, ImageAttachment):
            raise not_found(attachment_id)
        return await self._content(attachment, claims.user_id)

    async def _content(self, attachment: Attachment, user_id: str) -> StoredContent:
        if not is_uploaded(attachment):
            raise NotFoundError(f"attachment {attachment.id!r} has no content yet: upload it first")
        path = self.path_for(user_id, attachment.id)
        try:
            stat = await asyncio.to_thread(path.stat)
        except FileNotFoundError:
            raise NotFoundError(f"attachment {attachment.id!r} has no content") from None
        sha256 = str((attachment.metadata or {}).get("sha256") or "")
        return StoredContent(attachment=attachment, path=path, stat=stat, sha256=sha256)

    # -- uploading -------------------------------------------------------------------------
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
        """Second phase of a two-phase upload: check the token, store the bytes once.

        Checks run in this order: owner (404), token (403), not yet uploaded (409), declared
        length (413), then the bytes as they stream: size (413), type (415).
        """
        user_id = owner_of(context)
        attachment = await self.load(attachment_id, context)
        self._check_upload_token(token, attachment_id, user_id)
        if is_uploaded(attachment):
            raise self._already_uploaded(attachment_id)
        check_declared_length(content_length, content_type, self.max_upload_bytes)
        async with TempUpload(self.temp_dir, self.max_upload_bytes) as temp:
            await receive_body(body, content_type, temp)
            self._check_bytes(attachment.mime_type, temp.head)
            if not await temp.commit(self.path_for(user_id, attachment_id)):
                raise self._already_uploaded(attachment_id)
            uploaded = attachment.model_copy(
                update={
                    "upload_descriptor": None,
                    "metadata": {
                        **(attachment.metadata or {}),
                        **self._upload_facts(user_id, temp),
                    },
                }
            )
        return await self._save_uploaded(uploaded, context)

    async def direct_upload(
        self,
        body: AsyncIterator[bytes],
        content_type: str | None,
        context: Any,
        *,
        content_length: str | None = None,
    ) -> Attachment:
        """Direct upload: a multipart ``file`` field becomes an attachment in one request."""
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

        async with TempUpload(self.temp_dir, self.max_upload_bytes) as temp:
            await receive_body(body, content_type, temp, check_part)
            mime_type = declared["mime_type"] or sniff_image(temp.head) or OCTET_STREAM
            mime_type = self.check_mime(mime_type)
            self._check_bytes(mime_type, temp.head)
            attachment_id = self._new_id(mime_type, context)
            if not await temp.commit(self.path_for(user_id, attachment_id)):
                raise ConflictError(f"attachment {attachment_id!r} already exists")
            attachment = self._build(
                attachment_id,
                declared["name"],
                mime_type,
                self.base_url(context),
                user_id,
                upload_descriptor=None,
                metadata={
                    "user_id": user_id,
                    "declared_size": temp.size,
                    **self._upload_facts(user_id, temp),
                },
            )
        return await self._save_uploaded(attachment, context)

    async def _save_uploaded(self, attachment: Attachment, context: Any) -> Attachment:
        path = self.path_for(owner_of(context), attachment.id)
        try:
            await self.store.save_attachment(attachment, context)
        except BaseException:
            await asyncio.to_thread(self._unlink, path)
            raise
        return attachment

    def _upload_facts(self, user_id: str, temp: TempUpload) -> dict[str, Any]:
        return {
            "user_id": user_id,
            "uploaded": True,
            "size": temp.size,
            "sha256": temp.sha256,
            "uploaded_at": datetime.now(UTC).isoformat(),
        }

    def _check_upload_token(self, token: str, attachment_id: str, user_id: str) -> None:
        claims = self._verify_upload_token(token)
        if claims.user_id != user_id:
            raise not_found(attachment_id)
        if claims.attachment_id != attachment_id:
            raise UploadTokenError("upload token is for another attachment")

    def _verify_upload_token(self, token: str) -> Any:
        if not token:
            raise UploadTokenError("upload URL has no token: use the URL from attachments.create")
        try:
            return self.signer.verify(token, "upload")
        except TokenError as exc:
            if str(exc) == "expired":
                raise UploadTokenError(
                    f"upload token expired (upload URLs are valid for {self.upload_token_ttl} "
                    "seconds, CHATKIT_UPLOAD_TOKEN_TTL): create the attachment again"
                ) from None
            raise UploadTokenError("upload token is invalid") from None

    def upload_context(
        self, token: str, attachment_id: str, *, request_id: str = ""
    ) -> RequestContext:
        """The owner's context for an upload sent without credentials.

        The signed token is the credential, as with a presigned storage URL: browsers
        upload to the descriptor's URL with only the descriptor's headers. It names one
        attachment of one user, expires, and works once.
        """
        claims = self._verify_upload_token(token)
        if claims.attachment_id != attachment_id:
            raise UploadTokenError("upload token is for another attachment")
        return RequestContext(user_id=claims.user_id, request_id=request_id)

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
    def base_url(self, context: Any) -> str:
        """The externally visible base URL for links: the context's, configured, or the request's."""
        base = getattr(context, "base_url", "") or self.public_url
        if not base:
            request = getattr(context, "request", None)
            base = str(request.base_url) if request is not None else self.fallback_origin
        return str(base).rstrip("/")

    def preview_url(self, base: str, attachment_id: str, user_id: str) -> str:
        signature = self.signer.sign("preview", attachment_id, user_id)
        return f"{base}/attachments/{quote(attachment_id)}/preview?sig={signature}"

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
                preview_url=self.preview_url(base, attachment_id, user_id),  # type: ignore[arg-type]
                metadata=metadata,
            )
        return FileAttachment(
            id=attachment_id,
            name=name,
            mime_type=mime_type,
            upload_descriptor=upload_descriptor,
            metadata=metadata,
        )

    # -- lifecycle -------------------------------------------------------------------------
    async def delete(self, attachment_id: str, context: Any) -> None:
        """Remove the user's attachment, file and row (404 for a missing one or another user's)."""
        await self.load(attachment_id, context)
        await self.delete_attachment(attachment_id, context)
        await self.store.delete_attachment(attachment_id, context)

    async def thread_files(self, thread_id: str, context: Any) -> list[Path]:
        """The files of the attachments bound to one of the user's threads."""
        user_id = owner_of(context)
        attachments = await self.store.admin_thread_attachments(user_id, thread_id)
        return [
            self.root / owner_key(user_id) / attachment.id
            for attachment in attachments
            if ATTACHMENT_ID_PATTERN.match(attachment.id)
        ]

    async def remove_files(self, paths: list[Path]) -> int:
        """Remove files; the number that were there."""
        return sum(await asyncio.to_thread(lambda: [self._unlink(path) for path in paths]))

    async def delete_thread_files(self, thread_id: str, context: Any) -> int:
        """Remove the files of a thread's attachments; the number removed."""
        return await self.remove_files(await self.thread_files(thread_id, context))

    async def prune_stale(self, created_before: datetime) -> PruneResult:
        """Remove uploads never sent in a message and created before the cutoff, files and rows."""
        removed: list[str] = []
        for owned in await self.store.admin_stale_attachments(created_before):
            context = RequestContext(user_id=owned.user_id)
            attachment_id = owned.attachment.id
            if ATTACHMENT_ID_PATTERN.match(attachment_id):
                await asyncio.to_thread(self._unlink, self.path_for(owned.user_id, attachment_id))
            await self.store.delete_attachment(attachment_id, context)
            removed.append(attachment_id)
        temp_files = await asyncio.to_thread(self._prune_temp, created_before.timestamp())
        if removed or temp_files:
            logger.info(
                "pruned %d stale attachments and %d partial uploads", len(removed), temp_files
            )
        return PruneResult(attachments=removed, temp_files=temp_files)

    def _prune_temp(self, cutoff: float) -> int:
        count = 0
        try:
            entries = list(os.scandir(self.temp_dir))
        except FileNotFoundError:
            return 0
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    count += 1
            except FileNotFoundError:
                continue
        return count

    @staticmethod
    def _unlink(path: Path) -> bool:
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True


def stale_cutoff(older_than_seconds: float, now: float | None = None) -> datetime:
    """The creation time before which an unsent upload is stale."""
    return datetime.fromtimestamp((time.time() if now is None else now) - older_than_seconds, UTC)
