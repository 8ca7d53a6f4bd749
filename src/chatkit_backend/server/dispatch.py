"""Parse a ChatKit request once, check it against the store, then answer or stream it.

The SDK's ``ChatKitServer.process`` builds a ``TypeAdapter`` per call (milliseconds of
CPU) and raises "not found" inside the stream, after the 200. Here the adapter is built
at import, every reference a request makes (thread, item, attachments) is checked before
the first byte, so a missing one is a 404, and the request is answered through the
server's public hooks (``server/operations.py`` for JSON, ``server/turns.py`` for
streams). A stream also holds its thread's reply lease (``server/leases.py``): one reply
at a time per thread, 409 ``thread_busy`` otherwise.
"""

import asyncio
import base64
import binascii
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, assert_never

from chatkit.errors import ErrorCode
from chatkit.server import ChatKitServer
from chatkit.store import NotFoundError as StoreNotFoundError
from chatkit.types import (
    AttachmentsCreateReq,
    AttachmentsDeleteReq,
    ChatKitReq,
    ErrorEvent,
    InputTranscribeReq,
    ItemsFeedbackReq,
    ItemsListReq,
    NonStreamingReq,
    ThreadsDeleteReq,
    ThreadsGetByIdReq,
    ThreadsListReq,
    ThreadsSyncCustomActionReq,
    ThreadsUpdateReq,
    is_streaming_req,
)
from pydantic import TypeAdapter, ValidationError

from chatkit_backend.attachments.store import BackendAttachmentStore
from chatkit_backend.errors import (
    BackendError,
    InvalidJSONError,
    InvalidRequestError,
    NotConfiguredError,
    NotFoundError,
)
from chatkit_backend.sdk_compat import request_models
from chatkit_backend.server.chatkit_server import check_action_handler
from chatkit_backend.server.encoding import sse_event
from chatkit_backend.server.failures import log_stream_failure
from chatkit_backend.server.leases import DEFAULT_BUSY_WAIT, DEFAULT_TTL, ReplyLeases
from chatkit_backend.server.operations import (
    ATTACHMENTS_NOT_CONFIGURED,
    answer,
    attachment_store_of,
)
from chatkit_backend.server.turns import (
    EventSource,
    load_attachment,
    load_thread,
    load_widget,
    prepare_reply,
)

logger = logging.getLogger("chatkit_backend.server")

REQUEST_ADAPTER: TypeAdapter[ChatKitReq] = TypeAdapter(ChatKitReq)
REQUEST_TYPES = sorted({model.model_fields["type"].default for model in request_models()})
MAX_PAGE_LIMIT = 1000
MAX_TITLE_CHARS = 500
"""The longest title ``threads.update`` takes, in characters."""
__all__ = ["ATTACHMENTS_NOT_CONFIGURED", "REQUEST_TYPES", "Dispatcher", "Result", "parse_request"]


@dataclass(frozen=True, slots=True)
class Result:
    """Either a JSON body or a factory for the SSE byte stream.

    A stream comes with ``close`` (await it when the response ends, whether the stream
    ran or not: it gives back the thread's reply lease) and ``detach`` (call it when the
    client went away and the reply runs on, ``CHATKIT_ON_DISCONNECT=finish``).
    """

    operation: str
    json: bytes = b""
    stream: Callable[[], AsyncIterator[bytes]] | None = None
    close: Callable[[], Awaitable[None]] | None = None
    detach: Callable[[], None] | None = None


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

    def __init__(
        self,
        server: ChatKitServer[Any],
        *,
        lease_ttl: float = DEFAULT_TTL,
        busy_wait: float = DEFAULT_BUSY_WAIT,
    ) -> None:
        """``lease_ttl``: seconds a reply's thread lease outlives its last renewal
        (``CHATKIT_REPLY_LEASE_SECONDS``); ``busy_wait``: seconds a request waits for a
        reply that is ending before answering 409 ``thread_busy`` (``server/leases.py``)."""
        self.server = server
        self.store = server.store
        self.leases = ReplyLeases(server.store, ttl=lease_ttl, busy_wait=busy_wait)

    async def handle(self, request: ChatKitReq, context: Any) -> Result:
        """Check the request's references, then return its JSON or its event stream.

        Raises a ``BackendError`` (an HTTP status) for anything wrong before the stream.
        """
        check_ids(request)
        try:
            if is_streaming_req(request):
                plan = await prepare_reply(self.server, request, context, self.leases)
                lease = plan.lease
                return Result(
                    request.type,
                    stream=lambda: self._events(plan.events, context),
                    close=lease.release if lease is not None else None,
                    detach=lease.detach if lease is not None else None,
                )
            await self._check_non_streaming(request, context)
            if isinstance(request, ThreadsDeleteReq):
                return Result(request.type, json=await self._delete_thread(request, context))
            return Result(request.type, json=await answer(self.server, request, context))
        except StoreNotFoundError as exc:
            raise NotFoundError(str(exc) or "not found") from None
        except NotImplementedError as exc:
            raise NotConfiguredError(
                str(exc) or f"{request.type} is not implemented by this server"
            ) from None

    async def _events(self, events: EventSource, context: Any) -> AsyncIterator[bytes]:
        try:
            async for event in events():
                yield sse_event(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log_stream_failure(logger, exc, getattr(context, "request_id", ""))
            yield sse_event(ErrorEvent(code=ErrorCode.STREAM_ERROR, allow_retry=True))

    # -- checks before answering -----------------------------------------------------------
    async def _check_non_streaming(self, request: NonStreamingReq, context: Any) -> None:
        match request:
            case ThreadsListReq():
                _check_page_limit(request)
            case ItemsListReq():
                _check_page_limit(request)
                await load_thread(self.server, request.params.thread_id, context)
            case ItemsFeedbackReq() | ThreadsDeleteReq():
                await load_thread(self.server, request.params.thread_id, context)
            case ThreadsGetByIdReq():
                pass  # answering loads the thread: a missing one is a 404
            case ThreadsUpdateReq():
                _check_title(request)  # answering loads the thread: a missing one is a 404
            case ThreadsSyncCustomActionReq():
                await load_thread(self.server, request.params.thread_id, context)
                await load_widget(
                    self.server, request.params.thread_id, request.params.item_id, context
                )
                check_action_handler(self.server, request.params.action.type, streamed=False)
            case AttachmentsCreateReq():
                attachment_store_of(self.server)
            case AttachmentsDeleteReq():
                attachment_store_of(self.server)
                await load_attachment(self.server, request.params.attachment_id, context)
            case InputTranscribeReq():
                try:
                    base64.b64decode(request.params.audio_base64, validate=True)
                except (binascii.Error, ValueError):
                    raise InvalidRequestError(
                        "invalid input.transcribe request: params.audio_base64: not valid base64"
                    ) from None
            case _:
                assert_never(request)

    async def _delete_thread(self, request: ThreadsDeleteReq, context: Any) -> bytes:
        """Delete a thread with its attachments' bytes (``BackendAttachmentStore.delete_thread``,
        which the CLI calls too); the rows go through the server's own handler."""
        attachments = self.server.attachment_store
        if not isinstance(attachments, BackendAttachmentStore):
            return await answer(self.server, request, context)
        body = b""

        async def delete_rows() -> None:
            nonlocal body
            body = await answer(self.server, request, context)

        await attachments.delete_thread(request.params.thread_id, context, delete_rows=delete_rows)
        return body


def _check_title(request: ThreadsUpdateReq) -> None:
    """A title with something to show, at most ``MAX_TITLE_CHARS`` characters."""
    title = request.params.title
    if not title.strip():
        raise InvalidRequestError("invalid threads.update request: params.title: must not be empty")
    if len(title) > MAX_TITLE_CHARS:
        raise InvalidRequestError(
            "invalid threads.update request: params.title: "
            f"must be at most {MAX_TITLE_CHARS} characters (got {len(title)})"
        )


def _check_page_limit(request: ThreadsListReq | ItemsListReq) -> None:
    """A page size the stores can serve: 0 or none means the SDK's default, 1..MAX_PAGE_LIMIT."""
    limit = request.params.limit
    if limit is not None and not 0 <= limit <= MAX_PAGE_LIMIT:
        raise InvalidRequestError(
            f"invalid {request.type} request: params.limit: must be between 1 and {MAX_PAGE_LIMIT}"
            " (0 or none: the default page size)"
        )
