"""The thread record: one line of ``threads export``, read back by ``threads import``.

A record is one JSON object per line::

    {"user_id": "alice",
     "thread": {...ThreadMetadata...},
     "items": [{...ThreadItem...}, ...],          oldest first
     "attachments": [{...Attachment...}, ...],    rows bound to the thread, metadata included
     "feedback": [{"item_ids": [...], "kind": "positive", "created_at": "..."}],
     "files": {"atc_...": "<base64>"}}            only with `threads export --with-files`

Models are written as the store keeps them (every field, ``metadata`` included), so
reading a record back gives models equal (``==``) to the exported ones. Records written
before ``attachments``, ``feedback`` and ``files`` existed read with those empty.
"""

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any

from chatkit.types import Attachment, FeedbackKind, ThreadItem, ThreadMetadata
from pydantic import BaseModel, Field, PlainSerializer, PlainValidator, ValidationError

from chatkit_backend.transfer.errors import InvalidRecordError


def _decode_files(value: Any) -> dict[str, bytes]:
    if not isinstance(value, dict):
        raise ValueError("files must be an object of attachment id to base64 bytes")
    decoded: dict[str, bytes] = {}
    for key, text in value.items():
        if isinstance(text, bytes):
            decoded[str(key)] = text
            continue
        try:
            decoded[str(key)] = base64.b64decode(str(text), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"files[{key!r}] is not base64") from None
    return decoded


def _encode_files(value: dict[str, bytes]) -> dict[str, str]:
    return {key: base64.b64encode(data).decode("ascii") for key, data in value.items()}


Files = Annotated[
    dict[str, bytes],
    PlainValidator(_decode_files),
    PlainSerializer(_encode_files, return_type=dict[str, str]),
]


class FeedbackRecord(BaseModel):
    """Feedback on items of the thread, as recorded."""

    item_ids: list[str]
    kind: FeedbackKind
    created_at: datetime


class ThreadRecord(BaseModel):
    """A thread with everything that belongs to it."""

    user_id: str = Field(min_length=1)
    thread: ThreadMetadata
    items: list[ThreadItem] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    feedback: list[FeedbackRecord] = Field(default_factory=list)
    files: Files = Field(default_factory=dict)


def dump_record(record: ThreadRecord) -> str:
    """One JSON line (no newline); ``files`` is left out when empty."""
    exclude = {"files"} if not record.files else None
    return record.model_dump_json(exclude=exclude)


def parse_record(line: str, number: int) -> ThreadRecord:
    """The record on line ``number`` (1-based); ``InvalidRecordError`` naming line and field."""
    try:
        return ThreadRecord.model_validate_json(line)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "the line"
        if error["type"] == "json_invalid":
            raise InvalidRecordError(f"line {number}: not JSON ({error['msg']})") from None
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InvalidRecordError(f"line {number}: {where}: {error['msg']}{more}") from None
