"""Parse a ChatKit request once, check it against the store, then hand it to the SDK.

The SDK's ``ChatKitServer.process`` builds a ``TypeAdapter`` per call (milliseconds of
CPU) and raises "not found" inside the stream, after the 200. Here the adapter is built
at import, every reference a request makes (thread, item, attachments) is loaded before
the first byte, so a missing one is a 404, and the SDK's own handlers do the rest.
"""

import asyncio
import base64
import binascii
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from chatkit.errors import ErrorCode
from chatkit.server import DEFAULT_PAGE_SIZE, ChatKitServer
from chatkit.store import NotFoundError as StoreNotFoundError
from chatkit.types import (
    AttachmentsCreateReq,
    AttachmentsDeleteReq,
    ChatKitReq,
    ClientToolCallItem,
    ErrorEvent,
    InputTranscribeReq,
    ItemsFeedbackReq,
    ItemsListReq,
    Page,
    StreamingReq,
    StructuredInputItem,
    Thread,
    ThreadMetadata,
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsCustomActionReq,
    ThreadsDeleteReq,
    ThreadsListReq,
    ThreadsRetryAfterItemReq,
    ThreadsSyncCustomActionReq,
    UserMessageInput,
    UserMessageItem,
    WidgetItem,
    is_streaming_req,
)
from pydantic import TypeAdapter, ValidationError

from chatkit_backend.errors import (
    BackendError,
    ConflictError,
    InvalidJSONError,
    InvalidRequestError,
    NotConfiguredError,
    NotFoundError,
)

logger = logging.getLogger("chatkit_backend.server")

REQUEST_ADAPTER: TypeAdapter[ChatKitReq] = TypeAdapter(ChatKitReq)
REQUEST_TYPES = sorted(
    {model.model_fields["type"].default for model in ChatKitReq.__args__[0].__args__}
)
MAX_PAGE_LIMIT = 1000
ATTACHMENTS_NOT_CONFIGURED = (
    "attachments are not configured on this server: set CHATKIT_ATTACHMENTS=true "
    "or pass an attachment store"
)


@dataclass(frozen=True, slots=True)
class Result:
    """Either a JSON body or a factory for the SSE byte stream."""

    operation: str
    json: bytes = b""
    stream: Callable[[], AsyncIterator[bytes]] | None = None


def parse_request(body: bytes) -> ChatKitReq:
    """Validate a request body, mapping pydantic errors to 400 (not JSON) or 422 (not ChatKit)."""
    try:
        return REQUEST_ADAPTER.validate_json(body)
    except ValidationError as exc:
        raise _request_error(exc) from None


def _request_error(exc: ValidationError) -> BackendError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    kind = first["type"]
    if kind == "json_invalid":
        return InvalidJSONError(
            f"body is not valid JSON: {first.get('ctx', {}).get('error', first['msg'])}"
        )
    if not first["loc"] and (kind == "model_attributes_type" or kind.endswith("_type")):
        return InvalidRequestError("body must be a JSON object with a 'type' field")
    if kind == "union_tag_not_found" and not first["loc"]:
        return InvalidRequestError(
            "type: field required; expected one of: " + ", ".join(REQUEST_TYPES)
        )
    if kind == "union_tag_invalid" and not first["loc"]:
        tag = first.get("ctx", {}).get("tag", "")
        return InvalidRequestError(
            f"type: unknown request type {tag!r}; expected one of: " + ", ".join(REQUEST_TYPES)
        )
    operation = str(first["loc"][0]) if first["loc"] else "request"
    problems = []
    for error in errors[:5]:
        path = ".".join(str(part) for part in error["loc"][1:]) or "body"
        problems.append(f"{path}: {error['msg']}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return InvalidRequestError(f"invalid {operation} request: " + "; ".join(problems) + more)


MAX_FEEDBACK_ITEMS = 1000
ID_FIELDS = ("thread_id", "item_id", "attachment_id", "after")


def _named_ids(request: ChatKitReq) -> Iterator[tuple[str, str]]:
    """Every id a request names, with its field path."""
    params = request.params
    for name in ID_FIELDS:
        value = getattr(params, name, None)
        if isinstance(value, str):
            yield f"params.{name}", value
    for index, value in enumerate(getattr(params, "item_ids", None) or ()):
        yield f"params.item_ids.{index}", value
    message = getattr(params, "input", None)
    for index, value in enumerate(getattr(message, "attachments", None) or ()):
        if isinstance(value, str):
            yield f"params.input.attachments.{index}", value


def check_ids(request: ChatKitReq) -> None:
    """Ids can be looked up by every store: no NUL characters (PostgreSQL refuses them),
    and a bounded number of feedback targets (one bind parameter each)."""
    item_ids = getattr(request.params, "item_ids", None)
    if item_ids is not None and len(item_ids) > MAX_FEEDBACK_ITEMS:
        raise InvalidRequestError(
            f"invalid {request.type} request: params.item_ids: at most {MAX_FEEDBACK_ITEMS} ids"
        )
    for path, value in _named_ids(request):
        if "\x00" in value:
            raise InvalidRequestError(
                f"invalid {request.type} request: {path}: must not contain NUL characters"
            )


class Dispatcher:
    """Runs parsed requests against any ``ChatKitServer``, with checks before streaming."""

    def __init__(self, server: ChatKitServer[Any]) -> None:
        self.server = server
        self.store = server.store
        # The fast threads.list below writes what the SDK's ``_to_thread_response`` would;
        # a server that changes that method keeps the SDK's path.
        self._sdk_thread_responses = (
            type(server)._to_thread_response is ChatKitServer._to_thread_response
            and type(server)._process_non_streaming is ChatKitServer._process_non_streaming
        )

    async def handle(self, request: ChatKitReq, context: Any) -> Result:
        """Check the request's references, then return its JSON or its event stream."""
        check_ids(request)
        try:
            if is_streaming_req(request):
                await self._check_streaming(request, context)
                return Result(request.type, stream=lambda: self._events(request, context))
            await self._check_non_streaming(request, context)
            if isinstance(request, ThreadsDeleteReq):
                return Result(request.type, json=await self._delete_thread(request, context))
            if isinstance(request, ThreadsListReq) and self._sdk_thread_responses:
                return Result(request.type, json=await self._list_threads(request, context))
            body = await self.server._process_non_streaming(request, context)
            return Result(request.type, json=body)
        except StoreNotFoundError as exc:
            raise NotFoundError(str(exc) or "not found") from None
        except NotImplementedError as exc:
            raise NotConfiguredError(
                str(exc) or f"{request.type} is not implemented by this server"
            ) from None

    async def _events(self, request: StreamingReq, context: Any) -> AsyncIterator[bytes]:
        serialize = self.server._serialize
        try:
            async for event in self.server._process_streaming_impl(request, context):
                yield b"data: " + serialize(event) + b"\n\n"
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception(
                "stream failed", extra={"request_id": getattr(context, "request_id", "")}
            )
            yield (
                b"data: "
                + serialize(ErrorEvent(code=ErrorCode.STREAM_ERROR, allow_retry=True))
                + b"\n\n"
            )

    # -- checks before the first byte ------------------------------------------------------
    async def _load_thread(self, thread_id: str, context: Any) -> None:
        try:
            await self.store.load_thread(thread_id, context=context)
        except StoreNotFoundError:
            raise NotFoundError(f"thread {thread_id!r} not found") from None

    async def _load_item(self, thread_id: str, item_id: str, context: Any) -> Any:
        try:
            return await self.store.load_item(thread_id, item_id, context=context)
        except StoreNotFoundError:
            raise NotFoundError(f"item {item_id!r} not found in thread {thread_id!r}") from None

    async def _load_attachment(self, attachment_id: str, context: Any) -> Any:
        try:
            return await self.store.load_attachment(attachment_id, context=context)
        except StoreNotFoundError:
            raise NotFoundError(f"attachment {attachment_id!r} not found") from None

    async def _check_input(self, message: UserMessageInput, context: Any) -> None:
        for attachment_id in message.attachments:
            attachment = await self._load_attachment(attachment_id, context)
            if (attachment.metadata or {}).get(
                "uploaded"
            ) is False:  # LocalAttachmentStore's bookkeeping
                raise ConflictError(f"attachment {attachment_id!r} has not been uploaded yet")

    async def _check_streaming(self, request: StreamingReq, context: Any) -> None:
        match request:
            case ThreadsCreateReq():
                await self._check_input(request.params.input, context)
            case ThreadsAddUserMessageReq():
                await self._load_thread(request.params.thread_id, context)
                await self._check_input(request.params.input, context)
            case ThreadsAddClientToolOutputReq():
                await self._load_thread(request.params.thread_id, context)
                page = await self.store.load_thread_items(
                    request.params.thread_id, None, 1, "desc", context
                )
                last = page.data[0] if page.data else None
                if not (isinstance(last, ClientToolCallItem) and last.status == "pending"):
                    raise ConflictError(
                        f"thread {request.params.thread_id!r} has no pending client tool call"
                    )
            case ThreadsAddStructuredInputReq():
                await self._load_thread(request.params.thread_id, context)
                item = await self._load_item(
                    request.params.thread_id, request.params.item_id, context
                )
                if not isinstance(item, StructuredInputItem):
                    raise InvalidRequestError(
                        f"params.item_id: item {request.params.item_id!r} is not a structured input"
                    )
                if item.status != "pending":
                    raise ConflictError(f"structured input {item.id!r} was already answered")
            case ThreadsRetryAfterItemReq():
                await self._load_thread(request.params.thread_id, context)
                item = await self._load_item(
                    request.params.thread_id, request.params.item_id, context
                )
                if not isinstance(item, UserMessageItem):
                    raise InvalidRequestError(
                        f"params.item_id: item {request.params.item_id!r} is not a user message"
                    )
            case ThreadsCustomActionReq():
                await self._check_action(request.params.thread_id, request.params.item_id, context)

    async def _check_action(self, thread_id: str, item_id: str | None, context: Any) -> None:
        await self._load_thread(thread_id, context)
        if item_id:
            item = await self._load_item(thread_id, item_id, context)
            if not isinstance(item, WidgetItem):
                raise InvalidRequestError(f"params.item_id: item {item_id!r} is not a widget")

    async def _check_non_streaming(self, request: ChatKitReq, context: Any) -> None:
        if isinstance(request, ThreadsListReq | ItemsListReq):
            _check_page_limit(request)
        match request:
            case ItemsListReq() | ItemsFeedbackReq() | ThreadsDeleteReq():
                await self._load_thread(request.params.thread_id, context)
            case ThreadsSyncCustomActionReq():
                await self._check_action(request.params.thread_id, request.params.item_id, context)
            case AttachmentsCreateReq():
                self._require_attachments()
            case AttachmentsDeleteReq():
                self._require_attachments()
                await self._load_attachment(request.params.attachment_id, context)
            case InputTranscribeReq():
                try:
                    base64.b64decode(request.params.audio_base64, validate=True)
                except (binascii.Error, ValueError):
                    raise InvalidRequestError(
                        "invalid input.transcribe request: params.audio_base64: not valid base64"
                    ) from None

    def _require_attachments(self) -> None:
        if self.server.attachment_store is None:
            raise NotConfiguredError(ATTACHMENTS_NOT_CONFIGURED)

    async def _list_threads(self, request: ThreadsListReq, context: Any) -> bytes:
        """``threads.list`` as the SDK answers it, byte for byte, without building a ``Thread``
        model per row (that is most of the SDK's cost on the busiest read of the sidebar)."""
        params = request.params
        page = await self.store.load_threads(
            limit=params.limit or DEFAULT_PAGE_SIZE,
            after=params.after,
            order=params.order,
            context=context,
        )
        if any(isinstance(thread, Thread) for thread in page.data):
            return self.server._serialize(  # rows that carry items: the SDK filters those
                Page(
                    data=[self.server._to_thread_response(thread) for thread in page.data],
                    has_more=page.has_more,
                    after=page.after,
                )
            )
        return thread_page_json(page)

    async def _delete_thread(self, request: ThreadsDeleteReq, context: Any) -> bytes:
        """Delete a thread, then its attachments' files (listed first: the rows go with it)."""
        attachments = self.server.attachment_store
        thread_files = getattr(attachments, "thread_files", None)
        remove_files = getattr(attachments, "remove_files", None)
        files = await thread_files(request.params.thread_id, context) if thread_files else []
        body = await self.server._process_non_streaming(request, context)
        if files and remove_files:
            await remove_files(files)
        return body


def _check_page_limit(request: ThreadsListReq | ItemsListReq) -> None:
    """A page size the stores can serve: 0 or none means the SDK's default, 1..MAX_PAGE_LIMIT."""
    limit = request.params.limit
    if limit is not None and not 0 <= limit <= MAX_PAGE_LIMIT:
        raise InvalidRequestError(
            f"invalid {request.type} request: params.limit: must be between 1 and {MAX_PAGE_LIMIT}"
        )


# What the SDK's ``_to_thread_response`` copies from a ``ThreadMetadata``; the rest of a
# thread response is constant for a row without items.
THREAD_RESPONSE_FIELDS: set[str] = {"title", "id", "created_at", "status", "allowed_image_domains"}
_THREAD_RESPONSE_TAIL = b',"metadata":{},"items":{"data":[],"has_more":false}}'
_JSON_STRING: TypeAdapter[str] = TypeAdapter(str)


def thread_page_json(page: Page[ThreadMetadata]) -> bytes:
    """A page of thread rows as the SDK's ``threads.list`` answer (``Page[Thread]``, empty items)."""
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
