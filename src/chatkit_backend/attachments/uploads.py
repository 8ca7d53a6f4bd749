"""Receiving an upload's bytes: a raw body or one multipart ``file`` field, streamed to disk.

Bytes are counted as they arrive and the upload stops with 413 as soon as it passes
the limit: nothing is buffered whole, nothing past the limit is written. Multipart
bodies are parsed with ``python-multipart``'s streaming parser (Starlette's form
parser would spool the whole body first).
"""

import hashlib
import os
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import anyio.to_thread
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from chatkit_backend.attachments.mime import SNIFF_BYTES
from chatkit_backend.errors import BadRequestError, InvalidRequestError, PayloadTooLargeError

FILE_FIELD = "file"
MULTIPART_OVERHEAD = 64 * 1024  # boundaries, part headers and small extra fields


@dataclass(frozen=True, slots=True)
class PartInfo:
    """What the client said about the file: its name (multipart only) and its type."""

    filename: str | None
    content_type: str | None


def too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"file is larger than the limit of {limit} bytes (CHATKIT_MAX_UPLOAD_BYTES)"
    )


class TempUpload:
    """A temporary file that counts, hashes and keeps the head of what is written to it."""

    def __init__(self, folder: Path, limit: int) -> None:
        self.folder = folder
        self.limit = limit
        self.path = folder / f"upload-{secrets.token_hex(16)}.part"
        self.size = 0
        self.head = b""
        self._hash = hashlib.sha256()
        self._handle: int | None = None

    async def __aenter__(self) -> Self:
        def create() -> int:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)

        self._handle = await anyio.to_thread.run_sync(create)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await anyio.to_thread.run_sync(self._close_and_remove)

    def _close_and_remove(self) -> None:
        if self._handle is not None:
            os.close(self._handle)
            self._handle = None
        self.path.unlink(missing_ok=True)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    async def write(self, data: bytes) -> None:
        """Append ``data``, or raise 413 (writing nothing) if it would pass the limit."""
        if not data:
            return
        if self.size + len(data) > self.limit:
            raise too_large(self.limit)
        self.size += len(data)
        if len(self.head) < SNIFF_BYTES:
            self.head = (self.head + data)[:SNIFF_BYTES]
        self._hash.update(data)
        handle = self._handle
        assert handle is not None, "TempUpload used outside `async with`"
        await anyio.to_thread.run_sync(_write_all, handle, data)

    async def commit(self, destination: Path) -> bool:
        """Flush and publish the file at ``destination``; False if something is already there."""

        def publish() -> bool:
            assert self._handle is not None
            os.fsync(self._handle)
            destination.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                os.link(self.path, destination)  # atomic, and never replaces an existing file
            except FileExistsError:
                return False
            return True

        return await anyio.to_thread.run_sync(publish)


def _write_all(handle: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(handle, view)
        view = view[written:]


def check_declared_length(content_length: str | None, content_type: str | None, limit: int) -> None:
    """Refuse (413) before reading when ``Content-Length`` already says the body is too large."""
    if not content_length or not content_length.strip().isdigit():
        return
    allowance = MULTIPART_OVERHEAD if is_multipart(content_type) else 0
    if int(content_length) > limit + allowance:
        raise too_large(limit)


def is_multipart(content_type: str | None) -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() == "multipart/form-data"


async def receive_raw(
    body: AsyncIterator[bytes], content_type: str | None, sink: TempUpload
) -> PartInfo:
    """Write a raw request body to ``sink``."""
    async for chunk in body:
        await sink.write(chunk)
    return PartInfo(filename=None, content_type=content_type)


async def receive_multipart(
    body: AsyncIterator[bytes],
    content_type: str | None,
    sink: TempUpload,
    check_part: Callable[[PartInfo], None] = lambda part: None,
) -> PartInfo:
    """Write the ``file`` field of a multipart body to ``sink``; ``check_part`` runs on its headers."""
    reader = _MultipartReader(content_type, check_part)
    total = 0
    async for chunk in body:
        total += len(chunk)
        if total > sink.limit + MULTIPART_OVERHEAD:
            raise too_large(sink.limit)
        for data in reader.feed(chunk):
            await sink.write(data)
    return reader.finish()


async def receive_body(
    body: AsyncIterator[bytes],
    content_type: str | None,
    sink: TempUpload,
    check_part: Callable[[PartInfo], None] = lambda part: None,
) -> PartInfo:
    """A multipart body's ``file`` field, or else the raw body, written to ``sink``."""
    if is_multipart(content_type):
        return await receive_multipart(body, content_type, sink, check_part)
    part = PartInfo(filename=None, content_type=content_type)
    check_part(part)
    return await receive_raw(body, content_type, sink)


class _MultipartReader:
    """Feeds ``python-multipart``'s parser and hands back the ``file`` field's bytes."""

    def __init__(self, content_type: str | None, check_part: Callable[[PartInfo], None]) -> None:
        _, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if not boundary:
            raise BadRequestError("multipart body has no boundary in its Content-Type header")
        self._check_part = check_part
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[str, bytes] = {}
        self._in_file = False
        self._chunks: list[bytes] = []
        self._file: PartInfo | None = None
        self._ended = False
        try:
            self._parser = MultipartParser(
                boundary,
                callbacks={
                    "on_part_begin": self._on_part_begin,
                    "on_header_field": self._on_header_field,
                    "on_header_value": self._on_header_value,
                    "on_header_end": self._on_header_end,
                    "on_headers_finished": self._on_headers_finished,
                    "on_part_data": self._on_part_data,
                    "on_part_end": self._on_part_end,
                    "on_end": self._on_end,
                },
            )
        except MultipartParseError as exc:
            raise BadRequestError(f"invalid multipart body: {exc}") from None

    def feed(self, chunk: bytes) -> list[bytes]:
        """Parse ``chunk``; return the file bytes it held."""
        self._chunks = []
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            raise BadRequestError(f"invalid multipart body: {exc}") from None
        return self._chunks

    def finish(self) -> PartInfo:
        if not self._ended:
            raise BadRequestError("multipart body ended before its closing boundary")
        if self._file is None:
            raise InvalidRequestError(f"multipart body has no '{FILE_FIELD}' field")
        return self._file

    # -- parser callbacks ------------------------------------------------------------------
    def _on_part_begin(self) -> None:
        self._headers = {}
        self._header_name = self._header_value = b""

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        name = self._header_name.decode("latin-1").strip().lower()
        self._headers[name] = self._header_value.strip()
        self._header_name = self._header_value = b""

    def _on_headers_finished(self) -> None:
        disposition, params = parse_options_header(self._headers.get("content-disposition"))
        if disposition != b"form-data" or params.get(b"name") != FILE_FIELD.encode():
            self._in_file = False
            return
        if self._file is not None:
            raise InvalidRequestError(f"multipart body has more than one '{FILE_FIELD}' field")
        filename = params.get(b"filename")
        content_type = self._headers.get("content-type")
        self._file = PartInfo(
            filename=filename.decode("utf-8", "replace") if filename is not None else None,
            content_type=content_type.decode("latin-1") if content_type is not None else None,
        )
        self._check_part(self._file)
        self._in_file = True

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._chunks.append(data[start:end])

    def _on_part_end(self) -> None:
        self._in_file = False

    def _on_end(self) -> None:
        self._ended = True
