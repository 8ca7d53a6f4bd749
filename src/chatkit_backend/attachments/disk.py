"""``DiskStorage``: attachment bytes as files in one folder (``CHATKIT_ATTACHMENTS_URL=file:///path``).

Layout: ``<root>/<owner key>/<attachment id>`` (mode 0600), and ``<root>/.tmp/`` for
uploads in progress. A file is written to ``.tmp`` as it arrives, flushed, then linked
into place: atomic, and never over an existing file.
"""

import asyncio
import os
import secrets
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import anyio.to_thread

from chatkit_backend.attachments.errors import StorageUnavailableError
from chatkit_backend.attachments.storage import (
    Download,
    LocalFile,
    ObjectInfo,
    ObjectWriter,
    Storage,
)

TEMP_DIR_NAME = ".tmp"


class DiskWriter(ObjectWriter):
    """A temporary file in ``.tmp``, linked to its destination on commit."""

    def __init__(self, temp_dir: Path, destination: Path) -> None:
        self.temp_dir = temp_dir
        self.destination = destination
        self.path = temp_dir / f"upload-{secrets.token_hex(16)}.part"
        self._handle: int | None = None

    async def open(self) -> "DiskWriter":
        def create() -> int:
            self.temp_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)

        self._handle = await anyio.to_thread.run_sync(create)
        return self

    async def write(self, data: bytes) -> None:
        handle = self._handle
        assert handle is not None, "DiskWriter used before open() or after commit()/abort()"
        await anyio.to_thread.run_sync(_write_all, handle, data)

    async def commit(self) -> bool:
        def publish() -> bool:
            assert self._handle is not None
            os.fsync(self._handle)
            self.destination.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                os.link(self.path, self.destination)  # atomic; never replaces a file
            except FileExistsError:
                return False
            finally:
                self._close_and_remove()
            return True

        return await anyio.to_thread.run_sync(publish)

    async def abort(self) -> None:
        await anyio.to_thread.run_sync(self._close_and_remove)

    def _close_and_remove(self) -> None:
        if self._handle is not None:
            os.close(self._handle)
            self._handle = None
        self.path.unlink(missing_ok=True)


def _write_all(handle: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(handle, view)
        view = view[written:]


class DiskStorage(Storage):
    """Files under ``root``; the owner-only checks live in the attachment store."""

    kind = "file"

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def temp_dir(self) -> Path:
        return self.root / TEMP_DIR_NAME

    def path(self, key: str) -> Path:
        """The file for ``key`` (keys are built from checked ids only)."""
        return self.root / key

    @property
    def location(self) -> str:
        return str(self.root)

    async def check(self) -> str:
        """The folder (or the nearest one above it that exists, where it will be created)
        can be written (see ``Storage.check``)."""
        folder = self.root
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise StorageUnavailableError(
                f"attachment storage {self.root}: {folder} is not a folder this process can write"
            )
        return str(self.root)

    async def writer(self, key: str, content_type: str) -> ObjectWriter:
        return await DiskWriter(self.temp_dir, self.path(key)).open()

    async def stat(self, key: str) -> ObjectInfo | None:
        try:
            stat = await asyncio.to_thread(self.path(key).stat)
        except FileNotFoundError:
            return None
        return ObjectInfo(size=stat.st_size)

    async def read(self, key: str) -> bytes | None:
        try:
            return await asyncio.to_thread(self.path(key).read_bytes)
        except FileNotFoundError:
            return None

    async def read_head(self, key: str, size: int) -> bytes:
        def head() -> bytes:
            with self.path(key).open("rb") as handle:
                return handle.read(size)

        try:
            return await asyncio.to_thread(head)
        except FileNotFoundError:
            return b""

    async def delete(self, keys: Sequence[str]) -> int:
        paths = [self.path(key) for key in keys]
        return sum(await asyncio.to_thread(lambda: [_unlink(path) for path in paths]))

    async def download(
        self, key: str, *, mime_type: str, disposition: str, ttl: int
    ) -> Download | None:
        path = self.path(key)
        try:
            stat = await asyncio.to_thread(path.stat)
        except FileNotFoundError:
            return None
        return LocalFile(path=path, stat=stat)

    async def prune_partial(self, older_than: datetime) -> int:
        return await asyncio.to_thread(self._prune_temp, older_than.timestamp())

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


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
