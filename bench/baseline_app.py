"""The baseline for ``http_bench.py``: the seed guide's endpoint around the same server.

Same store type (``MemoryStore``), same server class and responder (``BackendServer`` with
the offline model, no token delay), same CORS middleware as the guide; the only
difference from ``create_app`` is the endpoint: ``await server.process(body, context)``
(a new pydantic ``TypeAdapter`` per call) answered with Starlette's ``StreamingResponse``.

    uvicorn --factory --app-dir bench baseline_app:create_baseline_app

``BENCH_RESPONDER=minimal`` swaps the responder, in both apps, for ``MinimalResponder``:
the offline model's reply, token by token, without the Agents SDK, which shows what the
HTTP path itself costs per stream.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from chatkit.server import StreamingResult
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
)
from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import StreamingResponse

from chatkit_backend.context import RequestContext
from chatkit_backend.responder import AgentResponder
from chatkit_backend.responder.offline import offline_reply, split_tokens
from chatkit_backend.server import BackendServer
from chatkit_backend.settings import Settings
from chatkit_backend.stores import MemoryStore

LOCAL_USER = "local"


def bench_settings() -> Settings:
    """The settings both benchmarked apps share: memory store, instant offline model, quiet logs."""
    return Settings(
        database_url="memory://",
        offline_token_delay=0.0,
        attachments=False,
        log_level="WARNING",
    )


class MinimalResponder:
    """The offline model's reply as ChatKit events, one delta per token, with no Agents SDK."""

    async def respond(
        self, server: Any, thread: ThreadMetadata, item: UserMessageItem | None, context: Any
    ) -> AsyncIterator[ThreadStreamEvent]:
        text = "".join(part.text for part in item.content if hasattr(part, "text")) if item else ""
        reply = offline_reply(text, [], [])
        message = AssistantMessageItem(
            id=server.store.generate_item_id("message", thread, context),
            thread_id=thread.id,
            created_at=datetime.now(),
            content=[AssistantMessageContent(text="")],
        )
        yield ThreadItemAddedEvent(item=message)
        for token in split_tokens(reply):
            update = AssistantMessageContentPartTextDelta(content_index=0, delta=token)
            yield ThreadItemUpdatedEvent(item_id=message.id, update=update)
        yield ThreadItemDoneEvent(
            item=message.model_copy(update={"content": [AssistantMessageContent(text=reply)]})
        )

    def describe(self) -> str:
        return "minimal"

    def check_inference_options(self, options: Any, field: str) -> None:
        return None  # it offers no model or tool choice: any is ignored

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class DeltaResponder(MinimalResponder):
    """``N`` text deltas (``"word "`` each) with no model, ``N`` being the user message's last
    word (``"deltas 300"``): the guide's app doing the least a streamed reply can do
    (``stream_cost.py``'s baseline)."""

    async def respond(
        self, server: Any, thread: ThreadMetadata, item: UserMessageItem | None, context: Any
    ) -> AsyncIterator[ThreadStreamEvent]:
        text = "".join(part.text for part in item.content if hasattr(part, "text")) if item else ""
        words = text.split()
        count = int(words[-1]) if words and words[-1].isdigit() else 0
        message = AssistantMessageItem(
            id=server.store.generate_item_id("message", thread, context),
            thread_id=thread.id,
            created_at=datetime.now(),
            content=[AssistantMessageContent(text="")],
        )
        yield ThreadItemAddedEvent(item=message)
        for _ in range(count):
            update = AssistantMessageContentPartTextDelta(content_index=0, delta="word ")
            yield ThreadItemUpdatedEvent(item_id=message.id, update=update)
        yield ThreadItemDoneEvent(
            item=message.model_copy(
                update={"content": [AssistantMessageContent(text="word " * count)]}
            )
        )


def bench_responder(settings: Settings) -> Any:
    """The responder both apps use: the offline model, or ``MinimalResponder`` /
    ``DeltaResponder`` when ``BENCH_RESPONDER`` is ``minimal`` / ``deltas``."""
    if os.environ.get("BENCH_RESPONDER") == "minimal":
        return MinimalResponder()
    if os.environ.get("BENCH_RESPONDER") == "deltas":
        return DeltaResponder()
    return AgentResponder(settings)


def create_baseline_app() -> FastAPI:
    settings = bench_settings()
    store = MemoryStore()
    responder = bench_responder(settings)
    server = BackendServer(store, None, responder=responder)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.open()
        yield
        await responder.aclose()
        await store.close()

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["http://localhost:3000", "http://127.0.0.1:3000"],
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
    )

    @app.post("/chatkit")
    async def chatkit_endpoint(req: Request) -> Response:
        body = await req.body()
        if not body:
            return Response(
                content='{"error": "No request body"}',
                media_type="application/json",
                status_code=400,
            )
        result = await server.process(body, context=RequestContext(user_id=LOCAL_USER))
        if isinstance(result, StreamingResult):
            return StreamingResponse(result, media_type="text/event-stream")
        return Response(content=result.json, media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
