"""Rows as JSON: the SDK's models are stored as ``model_dump_json()`` and parsed back whole.

Dumping through a ``TypeAdapter`` of the declared type stores only that type's fields
(a ``Thread`` saved as thread metadata loses its ``items``), and keeps ``metadata``.
"""

from typing import Any

from chatkit.types import (
    Attachment,
    HiddenContextItem,
    Page,
    SDKHiddenContextItem,
    Thread,
    ThreadItem,
    ThreadMetadata,
)
from pydantic import TypeAdapter

_HIDDEN = (HiddenContextItem, SDKHiddenContextItem)
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


# -- threads.list rows, straight from the stored JSON ------------------------------------
# ``dump_thread`` writes the fields of ``ThreadMetadata`` in their declared order, nulls
# included, ``metadata`` last. The ``threads.list`` answer shows each thread without
# ``metadata`` and without nulls (by alias: these models have none), plus a constant tail
# (empty ``metadata`` and ``items``): ``server.encoding.thread_response`` serialized as
# ``server.encoding.to_json`` does (both pinned to the SDK's own answer by tests). Inside JSON strings every ``"`` is escaped, so the
# markers below only ever match the structure itself, never a title or a domain.
THREAD_LIST_TAIL = ',"metadata":{},"items":{"data":[],"has_more":false}}'
_THREAD_FIELDS = ["title", "id", "created_at", "status", "allowed_image_domains", "metadata"]
_STATUS_FIELDS = {
    "ActiveStatus": ["type"],
    "LockedStatus": ["type", "reason"],
    "ClosedStatus": ["type", "reason"],
}


def _layout_is_known() -> bool:
    """The fast path below holds for the SDK's models as they are; a release that changes
    them turns it off (rows then go through the model)."""
    from chatkit import types

    return list(ThreadMetadata.model_fields) == _THREAD_FIELDS and all(
        list(getattr(types, name).model_fields) == fields for name, fields in _STATUS_FIELDS.items()
    )


_FAST_LAYOUT = _layout_is_known()
_JSON_STRING: TypeAdapter[str] = TypeAdapter(str)


def thread_list_row(data: str) -> str:
    """A stored thread (``dump_thread`` output) as a row of the ``threads.list`` answer."""
    cut = data.find(',"metadata":') if _FAST_LAYOUT else -1
    if cut < 0 or not data.startswith('{"title":'):
        return thread_list_row_of(load_thread(data))
    row = data[:cut]
    if row.startswith('{"title":null,'):
        row = "{" + row[14:]
    if row.endswith(',"allowed_image_domains":null'):
        row = row[:-29]
    return row.replace(',"reason":null}', "}", 1) + THREAD_LIST_TAIL


def thread_list_row_of(thread: ThreadMetadata) -> str:
    """A thread model as a row of the ``threads.list`` answer (a ``Thread`` with items
    shows its visible ones, as the SDK's answer does)."""
    if isinstance(thread, Thread):
        visible: list[ThreadItem] = [
            item for item in thread.items.data if not isinstance(item, _HIDDEN)
        ]
        response = Thread(
            id=thread.id,
            title=thread.title,
            created_at=thread.created_at,
            items=Page(data=visible, has_more=thread.items.has_more, after=thread.items.after),
            status=thread.status,
            allowed_image_domains=thread.allowed_image_domains,
        )
        return response.model_dump_json(
            by_alias=True, exclude_none=True, context={"exclude_metadata": True}
        )
    public = thread.model_dump_json(
        by_alias=True, exclude_none=True, include=set(_THREAD_FIELDS[:-1])
    )
    return public[:-1] + THREAD_LIST_TAIL


def thread_list_json(rows: list[str], has_more: bool, after: str | None) -> bytes:
    """The JSON body of a ``threads.list`` answer (``Page[Thread]``) from its rows."""
    body = '{"data":[' + ",".join(rows) + '],"has_more":' + ("true" if has_more else "false")
    if after is not None:
        body += ',"after":' + _JSON_STRING.dump_json(after).decode()
    return (body + "}").encode()
