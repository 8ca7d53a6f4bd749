"""Where attachment bytes live: the interface every storage backend implements.

Two backends implement it: ``DiskStorage`` (a folder, ``file://``) and ``S3Storage`` (any
S3-compatible bucket, ``s3://``). The ``BackendAttachmentStore`` holds everything else
(ownership, limits, types, rows, URLs we sign), so a backend only moves bytes by key.

A key is ``<owner key>/<attachment id>``: the owner key is a hash of the user id and the
id is checked against a strict pattern before any key is built, so a key is always a
safe relative path.
"""

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a backend knows about a stored object without reading it."""

    size: int
    """Bytes."""
    content_type: str = ""
    """The type the object was stored with (S3); empty where the backend keeps none (disk)."""
    etag: str = ""


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A download served by this process from a file."""

    path: Path
    stat: os.stat_result


@dataclass(frozen=True, slots=True)
class RemoteURL:
    """A download the client fetches elsewhere: a short-lived presigned ``GET`` URL."""

    url: str


Download = LocalFile | RemoteURL


@dataclass(frozen=True, slots=True)
class UploadTarget:
    """Where the client sends the bytes of a two-phase upload, and how."""

    url: str
    method: Literal["PUT", "POST"] = "PUT"
    headers: dict[str, str] = field(default_factory=dict)


class ObjectWriter(ABC):
    """Receives one object's bytes in order; nothing is visible under the key before ``commit``."""

    @abstractmethod
    async def write(self, data: bytes) -> None:
        """Append ``data``."""

    @abstractmethod
    async def commit(self) -> bool:
        """Publish the object under its key; ``False`` when one was already there (kept as it was)."""

    @abstractmethod
    async def abort(self) -> None:
        """Drop what was written; idempotent, and a no-op after ``commit``."""


class Storage(ABC):
    """A place for attachment bytes, addressed by key (see the module docstring)."""

    kind: str = ""
    """``file`` or ``s3``: for logs and messages."""

    @property
    def location(self) -> str:
        """Where the objects go, for messages: ``s3://bucket/prefix``, a folder (by
        default the storage's ``kind`` or class name)."""
        return self.kind or type(self).__name__

    @abstractmethod
    async def writer(self, key: str, content_type: str) -> ObjectWriter:
        """A writer for a new object at ``key`` with ``content_type``."""

    @abstractmethod
    async def stat(self, key: str) -> ObjectInfo | None:
        """The object's size and type; ``None`` when there is none."""

    @abstractmethod
    async def read(self, key: str) -> bytes | None:
        """The whole object; ``None`` when there is none."""

    @abstractmethod
    async def read_head(self, key: str, size: int) -> bytes:
        """Up to ``size`` first bytes (a range request on S3); empty when there is no object."""

    @abstractmethod
    async def delete(self, keys: Sequence[str]) -> int:
        """Remove objects (missing ones are skipped); the number removed."""

    @abstractmethod
    async def download(
        self, key: str, *, mime_type: str, disposition: str, ttl: int
    ) -> Download | None:
        """How the owner gets the bytes: a local file, or a presigned URL valid ``ttl`` seconds
        that answers with ``mime_type`` and ``disposition``. ``None`` when there is no object."""

    async def upload_target(self, key: str, mime_type: str, ttl: int) -> UploadTarget | None:
        """A URL where the client uploads straight to the storage, valid ``ttl`` seconds;
        ``None`` (the default) when uploads go through this server."""
        return None

    @abstractmethod
    async def prune_partial(self, older_than: datetime) -> int:
        """Remove uploads left unfinished before ``older_than``; how many went."""

    async def check(self) -> str:
        """Whether objects can be stored: where they go (``s3://bucket/prefix``, a folder).

        Raises ``StorageUnavailableError`` (503 ``storage_unavailable``) naming what is
        wrong: a bucket that does not exist or refuses access, a folder that cannot be
        written, an endpoint that does not answer. Writes nothing. Used by ``/readyz`` and
        ``chatkit-backend doctor``. This default checks nothing and returns ``location``
        (a storage written before ``check`` existed keeps working).
        """
        return self.location

    async def aclose(self) -> None:
        """Release connections (no-op by default)."""
        return None
