"""Receiving an upload's bytes: a raw body or one multipart ``file`` field, streamed to storage.

Bytes are counted as they arrive and the upload stops with 413 as soon as it passes
the limit: nothing is buffered whole, nothing past the limit is written. Multipart
bodies are parsed with ``python-multipart``'s streaming parser (Starlette's form
parser would spool the whole body first).
"""

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from chatkit_backend.attachments.mime import SNIFF_BYTES
from chatkit_backend.attachments.storage import ObjectWriter
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


OpenWriter = Callable[[bytes], Awaitable[ObjectWriter]]
"""Called once with the upload's first bytes (its head): checks them, returns the writer."""


class Incoming:
    """One upload's bytes as they arrive: counted against the limit, hashed, the head kept.

    The storage writer is opened only once the head (``SNIFF_BYTES``) is known, so the
    type and the image signature are checked before any byte reaches the storage. Use as
    ``async with``: leaving without ``commit`` drops what was written.
    """

    def __init__(self, limit: int, open_writer: OpenWriter) -> None:
        self.limit = limit
        self.size = 0
        self.head = b""
        self._open_writer = open_writer
        self._pending: list[bytes] = []
        self._hash = hashlib.sha256()
        self._writer: ObjectWriter | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._writer is not None:
            await self._writer.abort()

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    async def write(self, data: bytes) -> None:
        """Take ``data``, or raise 413 (keeping nothing more) if it would pass the limit."""
        if not data:
            return
        if self.size + len(data) > self.limit:
            raise too_large(self.limit)
        self.size += len(data)
        self._hash.update(data)
        if self._writer is not None:
            await self._writer.write(data)
            return
        self._pending.append(data)
        self.head = (self.head + data)[:SNIFF_BYTES]
        if len(self.head) >= SNIFF_BYTES:
            await self._open()

    async def _open(self) -> ObjectWriter:
        self._writer = await self._open_writer(self.head)
        pending, self._pending = self._pending, []
        for data in pending:
            await self._writer.write(data)
        return self._writer

    async def commit(self) -> bool:
        """Publish the object (opening the writer first for a file shorter than the head);
        ``False`` when an object was already at its key."""
        writer = self._writer or await self._open()
        return await writer.commit()


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
    body: AsyncIterator[bytes], content_type: str | None, sink: Incoming
) -> PartInfo:
    """Write a raw request body to ``sink``."""
    async for chunk in body:
        await sink.write(chunk)
    return PartInfo(filename=None, content_type=content_type)


async def receive_multipart(
    body: AsyncIterator[bytes],
    content_type: str | None,
    sink: Incoming,
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
    sink: Incoming,
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
