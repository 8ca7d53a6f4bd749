"""The streaming ChatKit requests: checked before the first byte, then streamed as events.

``prepare_turn`` loads and checks everything a streaming request names (thread, item,
attachments) and raises a ``BackendError`` (an HTTP status) when something is missing or
wrong; for ``threads.create`` it also saves the new thread, so a store that cannot take
it answers 503 before any stream. It returns the source of the turn's events.
``prepare_reply`` adds the thread lifecycle: a locked or closed thread takes no reply
(``server/status.py``, 409), a widget action needs a handler (``server/actions.py``,
501), and the thread's reply lease is taken last (``server/leases.py``, 409
``thread_busy``); the lease is held while the events stream.

The events then flow through ``process_events``, which does what the SDK's
``ChatKitServer`` does around ``respond``/``action`` (stream options first, items saved
as they finish, hidden items not sent, thread changes saved and announced, a
cancellation handed to ``handle_stream_cancelled``, failures turned into ``error``
events) through the server's public hooks only. ``tests/server/test_sdk_equivalence.py``
runs the SDK and this module on the same requests and compares the events. Where this
module differs from the SDK on purpose, to fix a fault, that test says so:

- the thread is saved by writing only what the turn changed, each field only if nobody
  wrote it since (``Turn.save_thread``, ``ThreadUpdate``), so a rename or a lock made
  while a reply streams survives it; the SDK saves its whole copy;
- a cancelled turn keeps its thread changes (a stopped first reply's title); the SDK
  drops them;
- the pending client tool call is found past hidden items stored after it, and the
  SDK's "cancelled" marker of the turn that made the call is removed when the client
  answers it (``pending_client_tool_call``); the SDK looks at the newest item only.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, assert_never

from chatkit.errors import CustomStreamError, ErrorCode, StreamError
from chatkit.server import DEFAULT_PAGE_SIZE, ChatKitServer, agents_sdk_user_agent_override
from chatkit.store import NotFoundError as StoreNotFoundError
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartAnnotationAdded,
    AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    Attachment,
    ClientToolCallItem,
    ErrorEvent,
    InferenceOptions,
    SDKHiddenContextItem,
    StreamingReq,
    StreamOptionsEvent,
    StructuredInputItem,
    ThreadCreatedEvent,
    ThreadItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsCustomActionReq,
    ThreadsRetryAfterItemReq,
    ThreadStreamEvent,
    ThreadUpdatedEvent,
    UserMessageInput,
    UserMessageItem,
    WidgetItem,
    WorkflowItem,
    WorkflowTaskAdded,
    WorkflowTaskUpdated,
)

from chatkit_backend.attachments.store import BackendAttachmentStore
from chatkit_backend.errors import ConflictError, InvalidRequestError, NotFoundError
from chatkit_backend.sdk_compat import apply_structured_input_submission
from chatkit_backend.server.chatkit_server import (
    BackendServer,
    PreparesReplies,
    check_action_handler,
)
from chatkit_backend.server.encoding import is_hidden, thread_response
from chatkit_backend.server.failures import log_stream_failure
from chatkit_backend.server.leases import ReplyLease, ReplyLeases
from chatkit_backend.server.status import check_accepts_replies
from chatkit_backend.stores.base import BackendStore
from chatkit_backend.stores.thread_updates import METADATA, UPDATABLE_FIELDS, ThreadUpdate

logger = logging.getLogger("chatkit_backend.server")

EventSource = Callable[[], AsyncIterator[ThreadStreamEvent]]
"""Called once, when the response starts: the turn's events."""
THREAD_STATE_FIELDS = (*UPDATABLE_FIELDS, METADATA)


# -- loads that answer 404 before the stream ----------------------------------------------
async def load_thread(server: ChatKitServer[Any], thread_id: str, context: Any) -> ThreadMetadata:
    try:
        return await server.store.load_thread(thread_id, context=context)
    except StoreNotFoundError:
        raise NotFoundError(f"thread {thread_id!r} not found") from None


async def load_item(
    server: ChatKitServer[Any], thread_id: str, item_id: str, context: Any
) -> ThreadItem:
    try:
        return await server.store.load_item(thread_id, item_id, context=context)
    except StoreNotFoundError:
        raise NotFoundError(f"item {item_id!r} not found in thread {thread_id!r}") from None


async def load_attachment(
    server: ChatKitServer[Any], attachment_id: str, context: Any
) -> Attachment:
    try:
        return await server.store.load_attachment(attachment_id, context=context)
    except StoreNotFoundError:
        raise NotFoundError(f"attachment {attachment_id!r} not found") from None


async def load_widget(
    server: ChatKitServer[Any], thread_id: str, item_id: str | None, context: Any
) -> WidgetItem | None:
    """The widget an action came from (None when the action names no item)."""
    if not item_id:
        return None
    item = await load_item(server, thread_id, item_id, context)
    if not isinstance(item, WidgetItem):
        raise InvalidRequestError(f"params.item_id: item {item_id!r} is not a widget")
    return item


async def load_input_attachments(
    server: ChatKitServer[Any],
    message: UserMessageInput,
    context: Any,
    thread_id: str | None = None,
) -> list[Attachment]:
    """The attachments a message sends to ``thread_id`` (None: a new thread), each one the
    user's and fully uploaded (``BackendAttachmentStore.ensure_ready`` checks ours)."""
    store = server.attachment_store
    loaded = []
    for attachment_id in message.attachments:
        if isinstance(store, BackendAttachmentStore):
            loaded.append(await store.ensure_ready(attachment_id, context, thread_id=thread_id))
            continue
        attachment = await load_attachment(server, attachment_id, context)
        # LocalAttachmentStore's bookkeeping: a two-phase upload not finished yet.
        if (attachment.metadata or {}).get("uploaded") is False:
            raise ConflictError(f"attachment {attachment_id!r} has not been uploaded yet")
        loaded.append(attachment)
    return loaded


# -- preparing a turn ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ReplyPlan:
    """A checked streaming request: its events, and the thread lease they hold (None
    without ``leases``). ``lease.release()`` must run when the response ends, streamed or
    not (the Dispatcher's ``Result.close``)."""

    events: EventSource
    lease: ReplyLease | None = None


async def prepare_turn(
    server: ChatKitServer[Any], request: StreamingReq, context: Any
) -> EventSource:
    """Check ``request`` against the store and return the source of its events.

    Raises ``NotFoundError`` (404), ``ConflictError`` (409) or ``InvalidRequestError`` (422)
    for what the request names wrongly, and the store's errors (503 when it is down).
    Takes no thread lease (``prepare_reply`` does).
    """
    return (await prepare_reply(server, request, context)).events


async def prepare_reply(
    server: ChatKitServer[Any],
    request: StreamingReq,
    context: Any,
    leases: ReplyLeases | None = None,
) -> ReplyPlan:
    """``prepare_turn`` (with the responder's ``prepare`` after the request's read-only
    checks, before anything is written), then the thread's lease from ``leases``: one
    reply at a time.

    Raises, besides ``prepare_turn``'s errors, ``ThreadLockedError``/``ThreadClosedError``
    (409) for a thread that takes no replies (``server/status.py``), ``NotConfiguredError``
    (501) for a widget action nobody handles (``server/actions.py``) and
    ``ThreadBusyError`` (409) while another reply streams on the thread.
    """
    thread, events = await _checked_turn(server, request, context)
    if leases is None:
        return ReplyPlan(events)
    lease = await leases.acquire(thread, context)
    return ReplyPlan(lease.guard(events), lease)


async def prepare_responder(server: ChatKitServer[Any], context: Any) -> None:
    """The responder's ``prepare`` (``PreparesReplies``), for a request it will answer
    (not a custom action, whose handler may not run it): e.g. an agent factory, whose
    errors become the status. Called once the request's read-only checks passed."""
    if isinstance(server, BackendServer):
        responder = server.responder
        if isinstance(responder, PreparesReplies):
            await responder.prepare(context)


async def _checked_turn(
    server: ChatKitServer[Any], request: StreamingReq, context: Any
) -> tuple[ThreadMetadata, EventSource]:
    """Every check of ``request`` but the lease; its thread and its events."""
    turn = Turn(server, context)
    match request:
        case ThreadsCreateReq():
            check_inference_options(server, request.params.input.inference_options, INPUT_OPTIONS)
            attachments = await load_input_attachments(server, request.params.input, context)
            await prepare_responder(server, context)
            thread = ThreadMetadata(
                id=server.store.generate_thread_id(context), created_at=datetime.now()
            )
            await server.store.save_thread(thread, context=context)
            return thread, lambda: turn.create(thread, request.params.input, attachments)
        case ThreadsAddUserMessageReq():
            check_inference_options(server, request.params.input.inference_options, INPUT_OPTIONS)
            thread = await load_thread(server, request.params.thread_id, context)
            check_accepts_replies(thread)
            attachments = await load_input_attachments(
                server, request.params.input, context, thread.id
            )
            await prepare_responder(server, context)
            return thread, lambda: turn.add_user_message(thread, request.params.input, attachments)
        case ThreadsAddClientToolOutputReq():
            thread = await load_thread(server, request.params.thread_id, context)
            check_accepts_replies(thread)
            tool_call = await pending_client_tool_call(server, thread, context)
            if tool_call is None:
                raise ConflictError(f"thread {thread.id!r} has no pending client tool call")
            await prepare_responder(server, context)
            return thread, lambda: turn.add_client_tool_output(
                thread, tool_call, request.params.result
            )
        case ThreadsAddStructuredInputReq():
            thread = await load_thread(server, request.params.thread_id, context)
            check_accepts_replies(thread)
            item = await load_item(server, thread.id, request.params.item_id, context)
            if not isinstance(item, StructuredInputItem):
                raise InvalidRequestError(
                    f"params.item_id: item {request.params.item_id!r} is not a structured input"
                )
            if item.status != "pending":
                raise ConflictError(f"structured input {item.id!r} was already answered")
            structured = item
            await prepare_responder(server, context)
            return thread, lambda: turn.add_structured_input(thread, structured, request)
        case ThreadsRetryAfterItemReq():
            thread = await load_thread(server, request.params.thread_id, context)
            check_accepts_replies(thread)
            item = await load_item(server, thread.id, request.params.item_id, context)
            if not isinstance(item, UserMessageItem):
                raise InvalidRequestError(
                    f"params.item_id: item {request.params.item_id!r} is not a user message"
                )
            # The retried message keeps the model and tool it was sent with: still offered?
            check_inference_options(
                server, item.inference_options, f"item {item.id!r} inference_options"
            )
            await prepare_responder(server, context)
            return thread, lambda: turn.retry_after_item(thread, request.params.item_id)
        case ThreadsCustomActionReq():
            thread = await load_thread(server, request.params.thread_id, context)
            sender = await load_widget(server, thread.id, request.params.item_id, context)
            check_action_handler(server, request.params.action.type, streamed=True)
            check_accepts_replies(thread)
            return thread, lambda: turn.custom_action(thread, request, sender)
        case _:
            assert_never(request)


INPUT_OPTIONS = "params.input.inference_options"


def check_inference_options(
    server: ChatKitServer[Any], options: InferenceOptions | None, field: str
) -> None:
    """422 for a model or tool-menu id the server's responder does not offer
    (``Responder.check_inference_options``; ``field`` is the path the message names)."""
    if isinstance(server, BackendServer):
        server.responder.check_inference_options(options, field)


PENDING_CALL_LOOKBACK = 100
"""Newest items searched for the pending client tool call, past hidden ones."""


async def pending_client_tool_call(
    server: ChatKitServer[Any], thread: ThreadMetadata, context: Any
) -> ClientToolCallItem | None:
    """The client tool call the thread waits on: its newest visible item, when pending.

    Hidden items stored after the call are looked past: context a tool stored, or the
    marker of a turn cancelled after the call was sent (the client went away while the
    title was written). The SDK looks at the newest item only, so such a thread could
    never continue.
    """
    after = None
    seen = 0
    while seen < PENDING_CALL_LOOKBACK:
        page = await server.store.load_thread_items(
            thread.id, after, DEFAULT_PAGE_SIZE, "desc", context
        )
        for item in page.data:
            if is_hidden(item):
                continue
            if isinstance(item, ClientToolCallItem) and item.status == "pending":
                return item
            return None
        seen += len(page.data)
        if not page.has_more:
            return None
        after = page.after
    return None


@dataclass(slots=True)
class Turn:
    """The streams of one request's turn on ``server`` for one request context."""

    server: ChatKitServer[Any]
    context: Any

    async def create(
        self, thread: ThreadMetadata, message: UserMessageInput, attachments: list[Attachment]
    ) -> AsyncIterator[ThreadStreamEvent]:
        yield ThreadCreatedEvent(thread=thread_response(thread))
        async for event in self.add_user_message(thread, message, attachments):
            yield event

    async def add_user_message(
        self, thread: ThreadMetadata, message: UserMessageInput, attachments: list[Attachment]
    ) -> AsyncIterator[ThreadStreamEvent]:
        store, context = self.server.store, self.context
        item = UserMessageItem(
            id=store.generate_item_id("message", thread, context),
            content=message.content,
            thread_id=thread.id,
            attachments=[
                attachment.model_copy(update={"thread_id": thread.id}) for attachment in attachments
            ],
            quoted_text=message.quoted_text,
            inference_options=message.inference_options,
            created_at=datetime.now(),
        )
        for attachment in item.attachments:  # they now belong to the thread
            await store.save_attachment(attachment, context=context)
        await store.add_thread_item(thread.id, item, context=context)
        yield ThreadItemDoneEvent(item=item)
        async for event in self.process(thread, lambda: self.server.respond(thread, item, context)):
            yield event

    async def add_client_tool_output(
        self, thread: ThreadMetadata, tool_call: ClientToolCallItem, result: Any
    ) -> AsyncIterator[ThreadStreamEvent]:
        store, context = self.server.store, self.context
        tool_call.output = result
        tool_call.status = "completed"
        await store.save_item(thread.id, tool_call, context=context)
        # A dangling pending call (there should never be two) would confuse the model.
        recent = await store.load_thread_items(thread.id, None, DEFAULT_PAGE_SIZE, "desc", context)
        newer = True  # than the call (the page is newest first)
        for item in recent.data:
            if item.id == tool_call.id:
                newer = False
            elif isinstance(item, ClientToolCallItem) and item.status == "pending":
                logger.warning("client tool call %s was not completed, ignoring", item.call_id)
                await store.delete_thread_item(thread.id, item.id, context=context)
            elif newer and isinstance(item, SDKHiddenContextItem):
                # The SDK's "cancelled" marker of the turn that sent the call: the client
                # answered the call, so that turn goes on, and the model must not be told
                # to stop it. (Deliberately unlike the SDK, which never gets here.)
                await store.delete_thread_item(thread.id, item.id, context=context)
        async for event in self.process(thread, lambda: self.server.respond(thread, None, context)):
            yield event

    async def add_structured_input(
        self,
        thread: ThreadMetadata,
        item: StructuredInputItem,
        request: ThreadsAddStructuredInputReq,
    ) -> AsyncIterator[ThreadStreamEvent]:
        answered = await apply_structured_input_submission(self.server, item, request.params.input)

        async def events() -> AsyncIterator[ThreadStreamEvent]:
            # Replaced inside the pipeline, so it is saved like any other replacement.
            yield ThreadItemReplacedEvent(item=answered)
            async for event in self.server.respond(thread, None, self.context):
                yield event

        async for event in self.process(thread, events):
            yield event

    async def retry_after_item(
        self, thread: ThreadMetadata, item_id: str
    ) -> AsyncIterator[ThreadStreamEvent]:
        store, context = self.server.store, self.context
        newer: list[ThreadItem] = []
        message: UserMessageItem | None = None
        after = None
        while message is None:
            page = await store.load_thread_items(
                thread.id, after, DEFAULT_PAGE_SIZE, "desc", context
            )
            for item in page.data:
                if item.id == item_id:
                    if not isinstance(item, UserMessageItem):
                        raise ValueError(f"Item {item_id} is not a user message")
                    message = item
                    break
                newer.append(item)
            if message is None and not page.has_more:
                return
            after = page.after
        for item in newer:
            await store.delete_thread_item(thread.id, item.id, context=context)
        retried = message
        async for event in self.process(
            thread, lambda: self.server.respond(thread, retried, context)
        ):
            yield event

    async def custom_action(
        self, thread: ThreadMetadata, request: ThreadsCustomActionReq, sender: WidgetItem | None
    ) -> AsyncIterator[ThreadStreamEvent]:
        async for event in self.process(
            thread,
            lambda: self.server.action(thread, request.params.action, sender, self.context),
        ):
            yield event

    # -- the pipeline around respond/action -------------------------------------------------
    async def process(
        self, thread: ThreadMetadata, stream: EventSource
    ) -> AsyncIterator[ThreadStreamEvent]:
        """The events of ``stream``, with what the SDK does around them (module docstring)."""
        server, store, context = self.server, self.server.store, self.context
        await asyncio.sleep(0)  # let the response start
        yield StreamOptionsEvent(stream_options=server.get_stream_options(thread, context))
        last_thread = thread.model_copy(deep=True)
        pending = PendingItems()
        events = stream()
        try:
            with agents_sdk_user_agent_override():
                async for event in events:
                    match event:
                        case ThreadItemAddedEvent():
                            pending.added(event.item)
                        case ThreadItemDoneEvent():
                            await store.add_thread_item(thread.id, event.item, context=context)
                            pending.finished(event.item.id)
                        case ThreadItemRemovedEvent():
                            await store.delete_thread_item(
                                thread.id, event.item_id, context=context
                            )
                            pending.finished(event.item_id)
                        case ThreadItemReplacedEvent():
                            await store.save_item(thread.id, event.item, context=context)
                            pending.finished(event.item.id)
                        case ThreadItemUpdatedEvent():
                            pending.updated(event)
                    if not (isinstance(event, ThreadItemDoneEvent) and is_hidden(event.item)):
                        yield event
                    if thread != last_thread:  # respond changed the thread (e.g. its title)
                        last_thread = await self.save_thread(thread, last_thread)
                        yield ThreadUpdatedEvent(thread=thread_response(thread))
                if thread != last_thread:
                    last_thread = await self.save_thread(thread, last_thread)
                    yield ThreadUpdatedEvent(thread=thread_response(thread))
        except asyncio.CancelledError:
            # Let the stream's own handlers run first (a first reply's title), then keep
            # what it changed in the thread: the client is gone, the store is not.
            # (The SDK saves no thread change of a cancelled turn.)
            await _close(events)
            if thread != last_thread:
                await self.save_thread(thread, last_thread)
            await server.handle_stream_cancelled(thread, pending.items(), context)
            raise
        except CustomStreamError as exc:
            yield ErrorEvent(code="custom", message=exc.message, allow_retry=exc.allow_retry)
        except StreamError as exc:
            yield ErrorEvent(code=exc.code, allow_retry=exc.allow_retry)
        except Exception as exc:
            yield ErrorEvent(code=ErrorCode.STREAM_ERROR, allow_retry=True)
            log_stream_failure(logger, exc, getattr(context, "request_id", ""))
        if thread != last_thread:
            await self.save_thread(thread, last_thread)
            yield ThreadUpdatedEvent(thread=thread_response(thread))

    async def save_thread(self, thread: ThreadMetadata, baseline: ThreadMetadata) -> ThreadMetadata:
        """Write what the turn changed in ``thread`` since ``baseline``, and make ``thread``
        the thread as stored; the new baseline.

        On a ``BackendStore`` only the changed fields are written, each only if nobody
        wrote it since the turn last saw it (``ThreadUpdate``): a rename or a lock made
        while the reply streamed stays, and ``thread`` (which the responder and tools
        hold) takes it. The SDK saves the turn's whole copy (``save_thread``), which
        undoes such writes; another store still gets that.
        """
        store = self.server.store
        if isinstance(store, BackendStore):
            update = ThreadUpdate.between(baseline, thread)
            stored = await store.update_thread(thread.id, update, self.context)
            for name in THREAD_STATE_FIELDS:
                setattr(thread, name, getattr(stored, name))
        else:
            await store.save_thread(thread, context=self.context)
        return thread.model_copy(deep=True)


@dataclass(slots=True)
class PendingItems:
    """Items streamed but not finished, kept current so a cancelled turn can save them."""

    by_id: dict[str, ThreadItem] = field(default_factory=dict)

    def added(self, item: ThreadItem) -> None:
        # An isolated copy: the stream's own handlers keep using the event's item.
        self.by_id[item.id] = item.model_copy(deep=True)

    def finished(self, item_id: str) -> None:
        self.by_id.pop(item_id, None)

    def items(self) -> list[ThreadItem]:
        return list(self.by_id.values())

    def updated(self, event: ThreadItemUpdatedEvent) -> None:
        item = self.by_id.get(event.item_id)
        update = event.update
        if isinstance(item, AssistantMessageItem):
            if isinstance(
                update,
                AssistantMessageContentPartAdded
                | AssistantMessageContentPartTextDelta
                | AssistantMessageContentPartAnnotationAdded
                | AssistantMessageContentPartDone,
            ):
                apply_message_update(item, update)
        elif isinstance(item, WorkflowItem):
            if isinstance(update, WorkflowTaskUpdated):
                item.workflow.tasks[update.task_index] = update.task
            elif isinstance(update, WorkflowTaskAdded):
                item.workflow.tasks.append(update.task)


def apply_message_update(
    item: AssistantMessageItem,
    update: AssistantMessageContentPartAdded
    | AssistantMessageContentPartTextDelta
    | AssistantMessageContentPartAnnotationAdded
    | AssistantMessageContentPartDone,
) -> None:
    """Apply one streamed update to an assistant message, as the client does."""
    # Updates can name a content index that does not exist yet.
    while len(item.content) <= update.content_index:
        item.content.append(AssistantMessageContent(text="", annotations=[]))
    match update:
        case AssistantMessageContentPartAdded():
            item.content[update.content_index] = update.content
        case AssistantMessageContentPartTextDelta():
            item.content[update.content_index].text += update.delta
        case AssistantMessageContentPartAnnotationAdded():
            annotations = item.content[update.content_index].annotations
            if update.annotation_index <= len(annotations):
                annotations.insert(update.annotation_index, update.annotation)
            else:
                annotations.append(update.annotation)
        case AssistantMessageContentPartDone():
            item.content[update.content_index] = update.content


async def _close(events: AsyncIterator[ThreadStreamEvent]) -> None:
    """Close a stream left suspended by a cancellation, running its handlers (no-op for a
    stream that already ended, or an iterator that is not a generator)."""
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()
