"""The ChatKit requests answered with JSON, through a ``ChatKitServer``'s public hooks.

Each handler does what the SDK's ``ChatKitServer.process`` does for the request (same
store calls, same hooks: ``add_feedback``, ``transcribe``, ``sync_action``, the attachment
store's ``create_attachment``/``delete_attachment``) and writes the same bytes;
``tests/server/test_operations.py`` runs both on the same requests. The dispatcher checks
every reference first, so a missing thread or item is a 404 before any of this runs.
"""

import base64
from typing import Any, assert_never

from chatkit.server import DEFAULT_PAGE_SIZE, ChatKitServer
from chatkit.store import AttachmentStore
from chatkit.types import (
    AttachmentsCreateReq,
    AttachmentsDeleteReq,
    AudioInput,
    InputTranscribeReq,
    ItemsFeedbackReq,
    ItemsListReq,
    NonStreamingReq,
    Thread,
    ThreadsDeleteReq,
    ThreadsGetByIdReq,
    ThreadsListReq,
    ThreadsSyncCustomActionReq,
    ThreadsUpdateReq,
    WidgetItem,
)

from chatkit_backend.errors import NotConfiguredError
from chatkit_backend.server.encoding import (
    thread_page_json,
    thread_response,
    to_json,
    visible_items,
)
from chatkit_backend.stores.base import BackendStore
from chatkit_backend.stores.thread_updates import ThreadUpdate

EMPTY_OBJECT = b"{}"
ATTACHMENTS_NOT_CONFIGURED = (
    "attachments are not configured on this server: set CHATKIT_ATTACHMENTS=true "
    "or pass an attachment store"
)


def attachment_store_of(server: ChatKitServer[Any]) -> AttachmentStore[Any]:
    """The server's attachment store, or ``NotConfiguredError`` (501)."""
    if server.attachment_store is None:
        raise NotConfiguredError(ATTACHMENTS_NOT_CONFIGURED)
    return server.attachment_store


async def answer(server: ChatKitServer[Any], request: NonStreamingReq, context: Any) -> bytes:
    """The JSON body answering ``request`` (UTF-8 bytes)."""
    store = server.store
    match request:
        case ThreadsGetByIdReq():
            thread = await store.load_thread(request.params.thread_id, context=context)
            items = await store.load_thread_items(
                thread.id, after=None, limit=DEFAULT_PAGE_SIZE, order="asc", context=context
            )
            full = Thread(**thread.model_dump(), items=items)
            return to_json(thread_response(full))
        case ThreadsListReq():
            params = request.params
            limit = params.limit or DEFAULT_PAGE_SIZE
            if isinstance(store, BackendStore):  # rows' JSON written as stored, no models
                return await store.load_threads_json(limit, params.after, params.order, context)
            page = await store.load_threads(
                limit=limit, after=params.after, order=params.order, context=context
            )
            return thread_page_json(page)
        case ItemsFeedbackReq():
            await server.add_feedback(
                request.params.thread_id, request.params.item_ids, request.params.kind, context
            )
            return EMPTY_OBJECT
        case AttachmentsCreateReq():
            attachment = await attachment_store_of(server).create_attachment(
                request.params, context
            )
            await store.save_attachment(attachment, context=context)
            return to_json(attachment)
        case AttachmentsDeleteReq():
            attachment_id = request.params.attachment_id
            await attachment_store_of(server).delete_attachment(attachment_id, context=context)
            await store.delete_attachment(attachment_id, context=context)
            return EMPTY_OBJECT
        case InputTranscribeReq():
            audio = AudioInput(
                data=base64.b64decode(request.params.audio_base64),
                mime_type=request.params.mime_type,
            )
            return to_json(await server.transcribe(audio, context=context))
        case ItemsListReq():
            item_page = await store.load_thread_items(
                request.params.thread_id,
                limit=request.params.limit or DEFAULT_PAGE_SIZE,
                order=request.params.order,
                after=request.params.after,
                context=context,
            )
            return to_json(visible_items(item_page))
        case ThreadsUpdateReq():
            if isinstance(store, BackendStore):
                # Only the title is written: a reply streaming meanwhile, or a lock, keeps
                # the rest of the thread as it stands (``ThreadUpdate``).
                thread = await store.update_thread(
                    request.params.thread_id,
                    ThreadUpdate.setting(title=request.params.title),
                    context,
                )
                return to_json(thread_response(thread))
            thread = await store.load_thread(request.params.thread_id, context=context)
            thread.title = request.params.title
            await store.save_thread(thread, context=context)
            return to_json(thread_response(thread))
        case ThreadsDeleteReq():
            await store.delete_thread(request.params.thread_id, context=context)
            return EMPTY_OBJECT
        case ThreadsSyncCustomActionReq():
            thread = await store.load_thread(request.params.thread_id, context=context)
            sender = None
            if request.params.item_id:
                item = await store.load_item(
                    request.params.thread_id, request.params.item_id, context=context
                )
                if not isinstance(item, WidgetItem):
                    raise ValueError("threads.sync_custom_action requires a widget sender item")
                sender = item
            response = await server.sync_action(thread, request.params.action, sender, context)
            return to_json(response)
        case _:
            assert_never(request)


__all__ = ["ATTACHMENTS_NOT_CONFIGURED", "answer", "attachment_store_of"]
