"""Hosted attachments into the store: rows always, bytes when the API gives a URL.

With a URL (hosted image attachments carry a ``preview_url``) the bytes are downloaded
and stored through the attachment store's public ``direct_upload``, which checks their
size and type as for any upload and gives the attachment a new id; the hosted id is kept
in its ``metadata`` (``hosted_attachment_id``), so a rerun finds it instead of
downloading it again. Without a URL, or when the download or the checks fail, the
attachment keeps its metadata only (name, type, the hosted URL) and the importer reports
why. Our API key goes only to URLs on the hosted API's own origin.
"""

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from chatkit.types import Attachment, FileAttachment, ImageAttachment
from pydantic import ValidationError

from chatkit_backend.context import RequestContext
from chatkit_backend.errors import BackendError
from chatkit_backend.stores.base import BackendStore

HOSTED_ID = "hosted_attachment_id"
HOSTED_URL = "hosted_preview_url"
ATTEMPTS = 4
Outcome = Literal["bytes", "metadata", "present"]


@dataclass(frozen=True, slots=True)
class Brought:
    """An attachment ready for its message, what happened to its bytes, and why."""

    attachment: Attachment
    outcome: Outcome
    note: str | None = None


class DownloadError(Exception):
    """The attachment's URL did not give its bytes."""


class HostedAttachments:
    """Brings the attachments of one import in (see the module docstring)."""

    def __init__(
        self,
        store: BackendStore | None,
        attachment_store: Any,
        http: httpx.AsyncClient,
        *,
        api_base_url: str,
        api_key: str,
        dry_run: bool = False,
        keep_bytes: bool | None = None,
        backoff: float = 0.5,
    ) -> None:
        """``attachment_store``: what ``attachment_store_from_settings`` gives (None when
        attachments are off: then only rows are kept). ``keep_bytes`` (default: whether
        there is an attachment store) is what a dry run reports."""
        self.store = store
        self.attachment_store = attachment_store
        self.http = http
        self.api_origin = _origin(api_base_url)
        self.api_key = api_key
        self.dry_run = dry_run
        self.keep_bytes = attachment_store is not None if keep_bytes is None else keep_bytes
        self.backoff = backoff

    async def known(self, owner: str, thread_id: str) -> dict[str, Attachment]:
        """The attachments an earlier run brought into this thread, by hosted id."""
        if self.store is None:
            return {}
        found = await self.store.admin_thread_attachments(owner, thread_id)
        return {
            str(row.metadata[HOSTED_ID]): row
            for row in found
            if row.metadata and row.metadata.get(HOSTED_ID)
        }

    async def bring(
        self, hosted: Any, thread_id: str, context: RequestContext, known: dict[str, Attachment]
    ) -> Brought:
        """The attachment for a hosted ``ChatKitAttachment``, bound to ``thread_id``."""
        if hosted.id in known:
            return Brought(known[hosted.id], "present")
        url: str | None = hosted.preview_url
        note = None
        if url and self.keep_bytes and self.dry_run:
            return Brought(self._metadata_only(hosted, thread_id, context), "bytes")
        if url and self.keep_bytes and self.attachment_store is not None:
            try:
                stored = await self._download(hosted, url, context)
            except (DownloadError, BackendError, httpx.HTTPError) as exc:
                note = f"attachment {hosted.id} ({hosted.name}): bytes not copied: {_reason(exc)}"
            else:
                bound = stored.model_copy(
                    update={
                        "thread_id": thread_id,
                        "metadata": {
                            **(stored.metadata or {}),
                            HOSTED_ID: hosted.id,
                            HOSTED_URL: url,
                        },
                    }
                )
                await self._save(bound, context)
                known[hosted.id] = bound
                return Brought(bound, "bytes")
        attachment = self._metadata_only(hosted, thread_id, context)
        await self._save(attachment, context)
        known[hosted.id] = attachment
        return Brought(attachment, "metadata", note)

    async def _save(self, attachment: Attachment, context: RequestContext) -> None:
        if self.store is not None and not self.dry_run:
            await self.store.save_attachment(attachment, context)

    def _metadata_only(self, hosted: Any, thread_id: str, context: RequestContext) -> Attachment:
        url: str | None = hosted.preview_url
        attachment_id = (
            self.store.generate_attachment_id(hosted.mime_type, context)
            if self.store is not None
            else f"atc_{secrets.token_hex(16)}"
        )
        fields: dict[str, Any] = {
            "id": attachment_id,
            "name": hosted.name,
            "mime_type": hosted.mime_type,
            "thread_id": thread_id,
            "metadata": {HOSTED_ID: hosted.id, HOSTED_URL: url},
        }
        if hosted.type == "image" and url:
            with contextlib.suppress(ValidationError):  # a URL pydantic refuses: keep it a file
                return ImageAttachment.model_validate({**fields, "preview_url": url})
        return FileAttachment(**fields)

    async def _download(self, hosted: Any, url: str, context: RequestContext) -> Attachment:
        """Stream the URL's bytes into ``direct_upload``; 429 and 5xx are retried."""
        headers = (
            {"Authorization": f"Bearer {self.api_key}"} if _origin(url) == self.api_origin else {}
        )
        for attempt in range(ATTEMPTS):
            async with self.http.stream("GET", url, headers=headers) as response:
                if response.status_code == 429 or response.status_code >= 500:
                    if attempt + 1 < ATTEMPTS:
                        await asyncio.sleep(_retry_after(response) or self.backoff * 2**attempt)
                        continue
                if response.status_code != 200:
                    raise DownloadError(f"GET answered HTTP {response.status_code}")
                boundary = secrets.token_hex(16)
                stored: Attachment = await self.attachment_store.direct_upload(
                    _multipart(response, boundary, hosted.name, hosted.mime_type),
                    f"multipart/form-data; boundary={boundary}",
                    context,
                )
                return stored
        raise DownloadError("no answer")  # pragma: no cover - the loop returns or raises


async def _multipart(
    response: httpx.Response, boundary: str, name: str, mime_type: str
) -> AsyncIterator[bytes]:
    """The body of a one-file multipart form, streamed from ``response``."""
    filename = name.replace('"', "'").replace("\r", " ").replace("\n", " ")
    yield (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {mime_type}\r\n\r\n"
    ).encode()
    async for chunk in response.aiter_bytes():
        yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds <= 60 else None


def _reason(exc: Exception) -> str:
    if isinstance(exc, BackendError):
        return exc.message
    return str(exc) or type(exc).__name__
