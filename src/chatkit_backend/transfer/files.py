"""Attachment bytes by owner and id, in any deployment's attachment storage.

``db copy`` and ``threads import`` keep attachment ids, so they move bytes by the
storage key the attachment store gives ``(owner, id)``: they read with the storage's
``read`` and write with its ``writer`` (``commit`` never replaces an object that is
there), so a rerun copies only what is missing. Storage is a folder (a path or
``file://`` URL) or a bucket (``s3://bucket/prefix``), as ``CHATKIT_ATTACHMENTS_URL``
names it. This relies on the public parts of ``chatkit_backend.attachments``:
``attachment_store_from_settings`` and its ``storage`` and ``key``.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from chatkit.types import Attachment
from pydantic import SecretStr

from chatkit_backend.errors import NotFoundError
from chatkit_backend.settings import Settings
from chatkit_backend.stores.memory import MemoryStore

Outcome = Literal["copied", "present", "missing"]
OwnedFile = tuple[str, str, str]
"""``(owner, attachment id, MIME type)``."""
# Only keys are built here: nothing is signed, so no key needs reading or creating.
_UNUSED_KEY = SecretStr("chatkit-backend transfer: keys only, nothing is signed")


@dataclass(frozen=True, slots=True)
class FileCounts:
    """What a file copy did: files copied, already there, and missing from the source."""

    copied: int = 0
    present: int = 0
    missing: int = 0

    def __add__(self, other: "FileCounts") -> "FileCounts":
        return FileCounts(
            self.copied + other.copied, self.present + other.present, self.missing + other.missing
        )

    @staticmethod
    def of(outcome: Outcome) -> "FileCounts":
        return FileCounts(outcome == "copied", outcome == "present", outcome == "missing")


def storage_url(location: str | Path) -> str:
    """A folder (path or ``file://`` URL) or ``s3://`` URL as a ``CHATKIT_ATTACHMENTS_URL``;
    ``ValueError`` for another scheme."""
    text = str(location)
    if text.startswith(("file://", "s3://")):
        return text
    if "://" in text:
        raise ValueError(
            f"{text.partition('://')[0]}:// is not attachment storage: give a folder, a "
            "file:// URL or an s3://bucket/prefix URL"
        )
    return Path(text).expanduser().resolve().as_uri()


class AttachmentFiles:
    """The attachment storage of one deployment."""

    def __init__(self, attachment_store: Any, url: str) -> None:
        """``attachment_store``: what ``attachment_store_from_settings`` returns."""
        self.attachment_store = attachment_store
        self.url = url

    @classmethod
    def at(cls, settings: Settings, location: str | Path | None = None) -> "AttachmentFiles":
        """The storage at ``location`` (see ``storage_url``; default: the settings'). Creates
        a folder's root only, and never the deployment's secret key file."""
        from chatkit_backend.attachments import attachment_store_from_settings

        url = storage_url(location) if location is not None else settings.resolved_attachments_url
        update: dict[str, Any] = {"attachments_url": url, "attachments_dir": None}
        if settings.secret_key is None:
            update["secret_key"] = _UNUSED_KEY
        return cls(
            attachment_store_from_settings(settings.model_copy(update=update), MemoryStore()), url
        )

    @property
    def storage(self) -> Any:
        return self.attachment_store.storage

    def same_place(self, other: "AttachmentFiles") -> bool:
        return self.url.rstrip("/") == other.url.rstrip("/")

    def key(self, user_id: str, attachment_id: str) -> str | None:
        """The storage key of ``(owner, id)``; None for an id that is not path-safe."""
        try:
            key: str = self.attachment_store.key(user_id, attachment_id)
        except NotFoundError:
            return None
        return key

    async def read(self, user_id: str, attachment: Attachment) -> bytes | None:
        """The attachment's bytes; None when there are none."""
        key = self.key(user_id, attachment.id)
        data: bytes | None = await self.storage.read(key) if key is not None else None
        return data

    async def write(self, user_id: str, attachment_id: str, data: bytes, mime_type: str) -> Outcome:
        """Store ``data`` as the bytes of ``(owner, id)`` unless some are there already."""
        key = self.key(user_id, attachment_id)
        if key is None:
            return "missing"
        if await self.storage.stat(key) is not None:
            return "present"
        writer = await self.storage.writer(key, mime_type)
        try:
            await writer.write(data)
            committed: bool = await writer.commit()
        except BaseException:
            await writer.abort()
            raise
        return "copied" if committed else "present"

    async def copy_from(self, source: "AttachmentFiles", files: Iterable[OwnedFile]) -> FileCounts:
        """Copy the bytes of ``(owner, id, type)`` from ``source``; what happened to them."""
        counts = FileCounts()
        for user_id, attachment_id, mime_type in files:
            counts += FileCounts.of(await self._copy_one(source, user_id, attachment_id, mime_type))
        return counts

    async def _copy_one(
        self, source: "AttachmentFiles", user_id: str, attachment_id: str, mime_type: str
    ) -> Outcome:
        key, origin = self.key(user_id, attachment_id), source.key(user_id, attachment_id)
        if key is None or origin is None:
            return "missing"
        if await self.storage.stat(key) is not None:
            return "present"
        data = await source.storage.read(origin)
        if data is None:
            return "missing"
        return await self.write(user_id, attachment_id, data, mime_type)

    async def aclose(self) -> None:
        await self.attachment_store.aclose()
