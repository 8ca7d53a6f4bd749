"""Rows as JSON: the SDK's models are stored as ``model_dump_json()`` and parsed back whole.

Dumping through a ``TypeAdapter`` of the declared type stores only that type's fields
(a ``Thread`` saved as thread metadata loses its ``items``), and keeps ``metadata``.
"""

from typing import Any

from chatkit.types import Attachment, ThreadItem, ThreadMetadata
from pydantic import TypeAdapter

_THREAD: TypeAdapter[ThreadMetadata] = TypeAdapter(ThreadMetadata)
_ITEM: TypeAdapter[Any] = TypeAdapter(ThreadItem)
_ATTACHMENT: TypeAdapter[Any] = TypeAdapter(Attachment)


def dump_thread(thread: ThreadMetadata) -> str:
    return _THREAD.dump_json(thread).decode()


def load_thread(data: str | bytes) -> ThreadMetadata:
    return _THREAD.validate_json(data)


def dump_item(item: ThreadItem) -> str:
    return _ITEM.dump_json(item).decode()


def load_item(data: str | bytes) -> ThreadItem:
    item: ThreadItem = _ITEM.validate_json(data)
    return item


def dump_attachment(attachment: Attachment) -> str:
    return _ATTACHMENT.dump_json(attachment).decode()


def load_attachment(data: str | bytes) -> Attachment:
    attachment: Attachment = _ATTACHMENT.validate_json(data)
    return attachment
