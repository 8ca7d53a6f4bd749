"""``BackendServer``: the SDK's ``ChatKitServer`` with a pluggable responder.

It holds no HTTP code: the routes hand it parsed requests through the ``Dispatcher``.
Widget actions go to the handlers registered in ``actions`` (``server/actions.py``),
unless a subclass overrides ``action``/``sync_action``.
"""

from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol, runtime_checkable

from chatkit.actions import Action
from chatkit.server import ChatKitServer
from chatkit.store import AttachmentStore
from chatkit.types import (
    AudioInput,
    FeedbackKind,
    InferenceOptions,
    SyncCustomActionResponse,
    ThreadMetadata,
    ThreadStreamEvent,
    TranscriptionResult,
    UserMessageItem,
    WidgetItem,
)

from chatkit_backend.context import RequestContext
from chatkit_backend.errors import NotConfiguredError
from chatkit_backend.server.actions import STREAMED, SYNC, ActionHandler, Actions
from chatkit_backend.stores.base import BackendStore

TRANSCRIPTION_NOT_CONFIGURED = (
    "transcription is not configured: set CHATKIT_TRANSCRIPTION_MODEL "
    "(and CHATKIT_MODEL_API_KEY or OPENAI_API_KEY)"
)


class Responder(Protocol):
    """Produces the assistant's events for a user message (see ``chatkit_backend.responder``)."""

    def respond(
        self,
        server: "BackendServer",
        thread: ThreadMetadata,
        item: UserMessageItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]: ...

    def describe(self) -> str: ...

    def check_inference_options(self, options: InferenceOptions | None, field: str) -> None:
        """Raise ``InvalidRequestError`` (422) for a model or tool choice it does not offer;
        called before any stream (``field`` is the request path to name)."""
        ...

    async def start(self) -> None:
        """Open what lives as long as the app (MCP connections); called at app start."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class PreparesReplies(Protocol):
    """A responder with work to do for a request before its stream starts (optional).

    ``prepare`` runs for every request that will run the responder (``threads.create``,
    ``threads.add_user_message``, ``threads.add_client_tool_output``,
    ``threads.add_structured_input``, ``threads.retry_after_item``) once the request's
    read-only checks passed (a missing thread is still a 404), before the thread is
    written and before the first byte: what it raises is the answer's HTTP status (a
    ``BackendError`` its own, anything else a 500 ``internal_error``).
    """

    async def prepare(self, context: RequestContext) -> None: ...


class Transcriber(Protocol):
    """Turns dictated audio into composer text (``input.transcribe``)."""

    async def transcribe(self, audio_input: AudioInput, context: Any) -> TranscriptionResult: ...

    async def aclose(self) -> None: ...


class BackendServer(ChatKitServer[RequestContext]):
    """The default server: answers through a responder, stores feedback, transcribes when configured."""

    def __init__(
        self,
        store: BackendStore,
        attachment_store: AttachmentStore[RequestContext] | None = None,
        *,
        responder: Responder,
        transcriber: Transcriber | None = None,
        actions: Actions | Mapping[str, ActionHandler] | None = None,
    ) -> None:
        """``actions``: widget action handlers by type (``server/actions.py``)."""
        super().__init__(store, attachment_store)
        self.store: BackendStore = store
        self.responder = responder
        self.transcriber = transcriber
        self.actions = Actions.of(actions)

    def respond(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        return self.responder.respond(self, thread, input_user_message, context)

    def action(
        self,
        thread: ThreadMetadata,
        action: Action[str, Any],
        sender: WidgetItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        """The events of the streamed handler registered for ``action.type``.

        Raises ``NotConfiguredError`` (501, answered before any stream) when there is none.
        """
        return self.actions.stream(action, sender, thread, context, self)

    async def sync_action(
        self,
        thread: ThreadMetadata,
        action: Action[str, Any],
        sender: WidgetItem | None,
        context: RequestContext,
    ) -> SyncCustomActionResponse:
        """The answer of the sync handler registered for ``action.type``.

        Raises ``NotConfiguredError`` (501) when there is none.
        """
        return await self.actions.sync(action, sender, thread, context, self)

    async def add_feedback(
        self,
        thread_id: str,
        item_ids: list[str],
        feedback: FeedbackKind,
        context: RequestContext,
    ) -> None:
        await self.store.save_feedback(thread_id, item_ids, feedback, context)

    async def transcribe(
        self, audio_input: AudioInput, context: RequestContext
    ) -> TranscriptionResult:
        if self.transcriber is None:
            raise NotConfiguredError(TRANSCRIPTION_NOT_CONFIGURED)
        return await self.transcriber.transcribe(audio_input, context)


def check_action_handler(server: ChatKitServer[Any], action_type: str, *, streamed: bool) -> None:
    """501 ``not_configured`` before any stream when ``server`` cannot handle the action.

    A server that overrides ``action`` (``sync_action`` for ``threads.sync_custom_action``)
    handles every action itself. A ``BackendServer`` that does not looks the type up in
    its ``actions``; any other server, whose methods are the SDK's, handles none.
    """
    name = "action" if streamed else "sync_action"
    method = getattr(type(server), name)
    if isinstance(server, BackendServer) and method is getattr(BackendServer, name):
        server.actions.check(action_type, streamed=streamed)
        return
    if method is getattr(ChatKitServer, name):
        request = STREAMED if streamed else SYNC
        raise NotConfiguredError(
            f"{request}: this server handles no widget actions ({type(server).__name__}."
            f"{name} is not implemented)"
        )
