"""``BackendServer``: the SDK's ``ChatKitServer`` with a pluggable responder.

It holds no HTTP code: the routes hand it parsed requests through the ``Dispatcher``.
"""

from collections.abc import AsyncIterator
from typing import Any, Protocol

from chatkit.server import ChatKitServer
from chatkit.store import AttachmentStore
from chatkit.types import (
    AudioInput,
    FeedbackKind,
    ThreadMetadata,
    ThreadStreamEvent,
    TranscriptionResult,
    UserMessageItem,
)

from chatkit_backend.context import RequestContext
from chatkit_backend.errors import NotConfiguredError
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

    async def aclose(self) -> None: ...


class Transcriber(Protocol):
    async def transcribe(self, audio_input: AudioInput, context: Any) -> TranscriptionResult: ...


class BackendServer(ChatKitServer[RequestContext]):
    """The default server: answers through a responder, stores feedback, transcribes when configured."""

    def __init__(
        self,
        store: BackendStore,
        attachment_store: AttachmentStore[RequestContext] | None = None,
        *,
        responder: Responder,
        transcriber: Transcriber | None = None,
    ) -> None:
        super().__init__(store, attachment_store)
        self.store: BackendStore = store
        self.responder = responder
        self.transcriber = transcriber

    def respond(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        return self.responder.respond(self, thread, input_user_message, context)

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
