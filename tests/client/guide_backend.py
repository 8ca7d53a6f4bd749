"""The guide's backend, written straight on the SDK: a ChatKit server that is not ours.

Its endpoint is the guide's (``server.process`` and a ``{"error": "..."}`` body for an
empty request); its replies arrive whole, without text deltas. The client must work
against it as well as against chatkit-backend.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from chatkit.server import ChatKitServer, StreamingResult
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ThreadItemDoneEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
    UserMessageTextContent,
)
from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse

from chatkit_backend.stores import MemoryStore


@dataclass(frozen=True)
class GuideContext:
    user_id: str = "guide-user"


class EchoServer(ChatKitServer[GuideContext]):
    """Answers every message with ``echo: <text>`` in one finished item."""

    async def respond(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: GuideContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        text = ""
        if input_user_message is not None:
            text = "".join(
                part.text
                for part in input_user_message.content
                if isinstance(part, UserMessageTextContent)
            )
        yield ThreadItemDoneEvent(
            item=AssistantMessageItem(
                id=self.store.generate_item_id("message", thread, context),
                thread_id=thread.id,
                created_at=datetime.now(),
                content=[AssistantMessageContent(text=f"echo: {text}")],
            )
        )


def create_app() -> FastAPI:
    server = EchoServer(MemoryStore())
    app = FastAPI()

    @app.post("/chatkit")
    async def chatkit_endpoint(req: Request) -> Response:
        body = await req.body()
        if not body:
            return Response(
                content='{"error": "No request body"}',
                media_type="application/json",
                status_code=400,
            )
        result = await server.process(body, context=GuideContext())
        if isinstance(result, StreamingResult):
            return StreamingResponse(result, media_type="text/event-stream")
        return Response(content=result.json, media_type="application/json")

    return app
