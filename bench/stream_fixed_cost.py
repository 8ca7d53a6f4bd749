"""The fixed CPU of a streamed reply, part by part, measured in one process.

``stream_cost.py`` runs it with its fake model server's URL; alone it starts its own
(which keeps connections alive, as real model servers do). Each
part is timed on its own (``time.process_time``, the least of three rounds), with the
settings ``serve`` uses by default but the model at the fake server:

- request handling: ``threads.create`` through the whole app (ASGI, no socket) with a
  responder that answers nothing, less the thread and item writes below;
- thread and item writes: the store calls of one reply (thread, user message, history
  read, assistant message, title), on ``memory://`` and on SQLite;
- title: ``TitleWriter.title_for`` (a model call when ``CHATKIT_TITLES=model``);
- agent set-up and model request: ``AgentResponder.respond`` for a one-delta reply on a
  titled thread (history read, agent and run set-up, the HTTP request, the events).

    .venv/bin/python bench/stream_fixed_cost.py [--model-url URL] [--api chat|responses]
"""

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from chatkit.types import (  # noqa: E402
    AssistantMessageContent,
    AssistantMessageItem,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
    UserMessageTextContent,
)

from chatkit_backend.app import create_app  # noqa: E402
from chatkit_backend.context import RequestContext  # noqa: E402
from chatkit_backend.responder import AgentResponder  # noqa: E402
from chatkit_backend.server import BackendServer  # noqa: E402
from chatkit_backend.settings import Settings  # noqa: E402
from chatkit_backend.stores import BackendStore, MemoryStore, store_from_settings  # noqa: E402

Part = Callable[[], Awaitable[None]]
CONTEXT = RequestContext(user_id="local")


class SilentResponder:
    """Answers nothing: what is left of a reply is the request and the turn's own writes."""

    async def respond(
        self, server: Any, thread: Any, item: Any, context: Any
    ) -> AsyncIterator[ThreadStreamEvent]:
        return
        yield  # pragma: no cover

    def describe(self) -> str:
        return "silent"

    def check_inference_options(self, options: Any, field: str) -> None:
        return None

    async def aclose(self) -> None:
        return None


def settings_for(model_url: str, api: str, data_dir: Path, store: str = "memory") -> Settings:
    return Settings(
        model=("openai-compatible:bench" if api == "chat" else "openai:bench"),
        model_base_url=model_url,
        database_url="memory://" if store == "memory" else None,
        data_dir=data_dir,
        log_level="WARNING",
    )


def user_item(store: BackendStore, thread: ThreadMetadata, text: str) -> UserMessageItem:
    return UserMessageItem(
        id=store.generate_item_id("message", thread, CONTEXT),
        thread_id=thread.id,
        created_at=datetime.now(),
        content=[UserMessageTextContent(text=text)],
        attachments=[],
        inference_options={},  # type: ignore[arg-type]
    )


async def cpu_ms(part: Part, calls: int = 40, rounds: int = 3) -> float:
    for _ in range(5):
        await part()
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(calls):
            await part()
        best = min(best, (time.process_time() - started) / calls * 1000)
    return best


def asgi_create(app: Any) -> Part:
    body = json.dumps({"type": "threads.create", "params": {"input": {"content": [{"type": "input_text", "text": "deltas 1"}], "attachments": [], "inference_options": {}}}}).encode()  # fmt: skip

    async def call() -> None:
        received = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if received:
                return received.pop()
            await asyncio.Event().wait()
            return {}

        async def send(message: dict[str, Any]) -> None:
            return None

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": "/chatkit", "raw_path": b"/chatkit", "root_path": "", "query_string": b"",
            "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {},
        }  # fmt: skip
        await app(scope, receive, send)

    return call


def store_writes(store: BackendStore, history: int) -> Part:
    async def call() -> None:
        thread = ThreadMetadata(id=store.generate_thread_id(CONTEXT), created_at=datetime.now())
        await store.save_thread(thread, CONTEXT)
        await store.add_thread_item(thread.id, user_item(store, thread, "deltas 1"), CONTEXT)
        await store.load_thread_items(thread.id, None, history, "desc", CONTEXT)
        reply = AssistantMessageItem(
            id=store.generate_item_id("message", thread, CONTEXT),
            thread_id=thread.id,
            created_at=datetime.now(),
            content=[AssistantMessageContent(text="word")],
        )
        await store.add_thread_item(thread.id, reply, CONTEXT)
        thread.title = "deltas 1"
        await store.save_thread(thread, CONTEXT)

    return call


async def run(model_url: str, api: str) -> None:
    with tempfile.TemporaryDirectory(prefix="stream-fixed-") as folder:
        settings = settings_for(model_url, api, Path(folder))
        memory = MemoryStore()
        await memory.open()
        app = create_app(
            settings,
            store=memory,
            server=lambda store, attachments: BackendServer(
                store, attachments, responder=SilentResponder()
            ),
        )
        sqlite = store_from_settings(settings_for(model_url, api, Path(folder), store="sqlite"))
        await sqlite.open()
        responder = AgentResponder(settings)
        server = BackendServer(memory, None, responder=responder)
        thread = ThreadMetadata(
            id=memory.generate_thread_id(CONTEXT), created_at=datetime.now(), title="titled"
        )
        await memory.save_thread(thread, CONTEXT)
        message = user_item(memory, thread, "deltas 1")
        await memory.add_thread_item(thread.id, message, CONTEXT)

        async def respond() -> None:
            async for _ in responder.respond(server, thread, message, CONTEXT):
                pass

        async def title() -> None:
            await responder.titles.title_for(message)

        async with app.router.lifespan_context(app):
            request_total = await cpu_ms(asgi_create(app))
        writes_memory = await cpu_ms(store_writes(memory, settings.history_items))
        writes_sqlite = await cpu_ms(store_writes(sqlite, settings.history_items), calls=20)
        title_ms = await cpu_ms(title, calls=20)
        respond_ms = await cpu_ms(respond, calls=20)
        await responder.aclose()
        await sqlite.close()
        request_ms = max(request_total - writes_memory, 0.0)
        rows = [
            ("request handling (HTTP, auth, parse, checks, SSE, turn pipeline)", request_ms),
            ("thread and item writes, memory://", writes_memory),
            (
                "title ("
                + ("model call" if responder.titles.model is not None else "first words")
                + ")",
                title_ms,
            ),
            ("agent set-up and model request (1 delta, history read)", respond_ms),
        ]
        print(f"| part ({'Chat Completions' if api == 'chat' else 'Responses'}) | CPU ms/reply |")
        print("|---|---|")
        for label, value in rows:
            print(f"| {label} | {value:.2f} |")
        print(f"| **total, memory://** | **{sum(value for _, value in rows):.2f}** |")
        print(f"| thread and item writes, SQLite (instead of memory://) | {writes_sqlite:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-url", default=None, help="a running fake model server's /v1 URL")
    parser.add_argument("--api", default="chat,responses")
    args = parser.parse_args()
    with ExitStack() as stack:
        url = args.model_url
        if url is None:
            from stream_cost import fake_model_server

            url = stack.enter_context(fake_model_server())
        for api in args.api.split(","):
            asyncio.run(run(url, api))
            print()


if __name__ == "__main__":
    main()
