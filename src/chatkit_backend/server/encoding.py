"""The JSON the ChatKit protocol answers with, written the way the SDK writes it.

``to_json`` dumps a model by alias, without ``null`` fields and without integration-only
``metadata`` (the ``exclude_metadata`` serialization context documented on the SDK's
``Attachment.metadata``). ``thread_response`` is what the SDK sends for a thread: public
fields only, hidden items filtered out. ``tests/server/test_encoding.py`` checks both
byte for byte against the SDK's own ``ChatKitServer`` on the same inputs.
"""

from chatkit.types import (
    AssistantMessageContentPartTextDelta,
    HiddenContextItem,
    Page,
    SDKHiddenContextItem,
    Thread,
    ThreadItem,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
)
from pydantic import BaseModel, TypeAdapter
from pydantic_core import to_json as to_json_value

SSE_PREFIX = b"data: "
SSE_SUFFIX = b"\n\n"
_EXCLUDE_METADATA = {"exclude_metadata": True}


def to_json(model: BaseModel) -> bytes:
    """The model as the ChatKit protocol carries it (UTF-8 JSON)."""
    return model.model_dump_json(
        by_alias=True, exclude_none=True, context=_EXCLUDE_METADATA
    ).encode("utf-8")


_TEXT_DELTA_START = b'data: {"type":"thread.item.updated","item_id":'
_TEXT_DELTA_MIDDLE = (
    b',"update":{"type":"assistant_message.content_part.text_delta","content_index":'
)
_TEXT_DELTA_END = b"}}\n\n"


def sse_event(event: BaseModel) -> bytes:
    """One Server-Sent Event (``data: <json>`` and a blank line) for a thread stream event.

    A text delta, most of a reply's events, is written field by field: the same bytes as
    ``to_json`` (``tests/server/test_encoding_fast.py``), a fifth of the CPU.
    """
    if type(event) is ThreadItemUpdatedEvent:
        update = event.update
        if type(update) is AssistantMessageContentPartTextDelta:
            return b"".join(
                (
                    _TEXT_DELTA_START,
                    to_json_value(event.item_id),
                    _TEXT_DELTA_MIDDLE,
                    str(update.content_index).encode(),
                    b',"delta":',
                    to_json_value(update.delta),
                    _TEXT_DELTA_END,
                )
            )
    return SSE_PREFIX + to_json(event) + SSE_SUFFIX


def is_hidden(item: ThreadItem) -> bool:
    """Items the client never sees: hidden context, the SDK's and the integration's."""
    return isinstance(item, HiddenContextItem | SDKHiddenContextItem)


def visible_items(page: Page[ThreadItem]) -> Page[ThreadItem]:
    """The page with hidden items filtered out (in place, as the SDK does)."""
    page.data = [item for item in page.data if not is_hidden(item)]
    return page


def thread_response(thread: ThreadMetadata | Thread) -> Thread:
    """A thread as the client receives it: public fields, visible items (none for metadata)."""
    items: Page[ThreadItem] = thread.items if isinstance(thread, Thread) else Page()
    return Thread(
        id=thread.id,
        title=thread.title,
        created_at=thread.created_at,
        items=visible_items(items),
        status=thread.status,
        allowed_image_domains=thread.allowed_image_domains,
    )


# What ``thread_response`` copies from a ``ThreadMetadata``; the rest of a thread response
# is constant for a row without items.
THREAD_RESPONSE_FIELDS: set[str] = {"title", "id", "created_at", "status", "allowed_image_domains"}
_THREAD_RESPONSE_TAIL = b',"metadata":{},"items":{"data":[],"has_more":false}}'
_JSON_STRING: TypeAdapter[str] = TypeAdapter(str)


def thread_page_json(page: Page[ThreadMetadata]) -> bytes:
    """A page of threads as the ``threads.list`` answer (``Page[Thread]``, empty items),
    without building a ``Thread`` model per row (most of the cost of the sidebar's read)."""
    if any(isinstance(thread, Thread) for thread in page.data):
        return to_json(
            Page(
                data=[thread_response(thread) for thread in page.data],
                has_more=page.has_more,
                after=page.after,
            )
        )
    rows = [
        thread.model_dump_json(
            by_alias=True, exclude_none=True, include=THREAD_RESPONSE_FIELDS
        ).encode()[:-1]
        + _THREAD_RESPONSE_TAIL
        for thread in page.data
    ]
    body = (
        b'{"data":[' + b",".join(rows) + b'],"has_more":' + (b"true" if page.has_more else b"false")
    )
    if page.after is not None:
        body += b',"after":' + _JSON_STRING.dump_json(page.after)
    return body + b"}"
