"""CPU per streamed ``threads.create``, layer by layer, in one process (no sockets).

Each layer adds one piece on top of the one before, so the differences are what each
piece costs per stream:

- ``model``: the offline model's event stream alone;
- ``runner``: ``Runner.run_streamed`` with the responder's agent and run config;
- ``sdk-stream``: plus chatkit's ``stream_agent_response`` (SDK events to ChatKit events);
- ``respond``: ``AgentResponder.respond`` (history, ids, title) on a fresh thread;
- ``server``: the SDK's ``_process_streaming_impl`` (store writes, per-event serialization);
- ``app``: the whole app through ASGI (routing, auth, middleware, SSE writer).

    .venv/bin/python bench/stream_profile.py [--streams 300] [--profile app]

``--profile LAYER`` prints a pyinstrument (if installed) or cProfile report of that layer.
"""

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent))

from agents import ModelSettings, ModelTracing, Runner, RunResultStreaming
from baseline_app import bench_settings
from chatkit.agents import AgentContext, stream_agent_response
from chatkit.types import (
    ThreadMetadata,
    ThreadsCreateReq,
    UserMessageItem,
    UserMessageTextContent,
)

from chatkit_backend.app import create_app
from chatkit_backend.context import RequestContext
from chatkit_backend.responder import AgentResponder
from chatkit_backend.server import BackendServer
from chatkit_backend.stores import MemoryStore

CREATE = {
    "type": "threads.create",
    "params": {
        "input": {
            "content": [{"type": "input_text", "text": "hi"}],
            "attachments": [],
            "inference_options": {},
        }
    },
}
INPUT = [{"role": "user", "content": "hi"}]
Layer = Callable[[], Awaitable[None]]


def layers() -> dict[str, Layer]:
    settings = bench_settings()
    store = MemoryStore()
    responder = AgentResponder(settings)
    server = BackendServer(store, None, responder=responder)
    context = RequestContext(user_id="local")
    app = create_app(settings, store=store)
    body = json.dumps(CREATE).encode()

    def thread() -> ThreadMetadata:
        return ThreadMetadata(id=store.generate_thread_id(context), created_at=datetime.now())

    def user_item(metadata: ThreadMetadata) -> UserMessageItem:
        return UserMessageItem(
            id=store.generate_item_id("message", metadata, context),
            thread_id=metadata.id,
            created_at=datetime.now(),
            content=[UserMessageTextContent(text="hi")],
            attachments=[],
            inference_options={},  # type: ignore[arg-type]
        )

    async def model() -> None:
        stream = responder.model.stream_response(
            None, INPUT, ModelSettings(), [], None, [], ModelTracing.DISABLED,  # type: ignore[arg-type]
            previous_response_id=None, conversation_id=None, prompt=None,
        )  # fmt: skip
        async for _ in stream:
            pass

    async def runner() -> None:
        result = Runner.run_streamed(responder.agent, INPUT, run_config=responder.run_config)  # type: ignore[arg-type]
        async for _ in result.stream_events():
            pass

    async def sdk_stream() -> None:
        metadata = thread()
        await store.save_thread(metadata, context)  # the SDK reads the thread's last items
        agent_context: AgentContext[Any] = AgentContext(
            thread=metadata, store=store, request_context=context
        )
        result = Runner.run_streamed(
            responder.agent,
            INPUT,
            context=agent_context,
            run_config=responder.run_config,  # type: ignore[arg-type]
        )
        async for _ in stream_agent_response(agent_context, cast(RunResultStreaming, result)):
            pass

    async def respond() -> None:
        metadata = thread()
        item = user_item(metadata)
        await store.save_thread(metadata, context)
        await store.add_thread_item(metadata.id, item, context)
        async for _ in responder.respond(server, metadata, item, context):
            pass

    async def through_server() -> None:
        request = ThreadsCreateReq.model_validate(CREATE)
        async for event in server._process_streaming_impl(request, context):
            server._serialize(event)

    async def through_app() -> None:
        sent: list[bytes] = []
        received = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if received:
                return received.pop()
            await asyncio.Event().wait()  # never disconnects
            return {}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                sent.append(message.get("body", b""))

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": "/chatkit", "raw_path": b"/chatkit", "root_path": "", "query_string": b"",
            "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {},
        }  # fmt: skip
        await app(scope, receive, send)
        assert b"assistant_message" in b"".join(sent), b"".join(sent)[:300]

    return {
        "model": model,
        "runner": runner,
        "sdk-stream": sdk_stream,
        "respond": respond,
        "server": through_server,
        "app": through_app,
    }, store  # type: ignore[return-value]


async def cpu_per_call(layer: Layer, streams: int, rounds: int = 3) -> float:
    """The least CPU per call over ``rounds`` rounds (the machine's other load only adds)."""
    for _ in range(20):
        await layer()
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(streams):
            await layer()
        best = min(best, (time.process_time() - started) / streams * 1000)
    return best


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=300)
    parser.add_argument("--profile", default=None, help="print a profile of this layer")
    parser.add_argument(
        "--layers", default=None, help="comma-separated layers to time (default: all)"
    )
    args = parser.parse_args()
    found, store = layers()  # type: ignore[misc]
    await store.open()
    if args.profile:
        layer = found[args.profile]
        for _ in range(20):
            await layer()
        try:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0002, async_mode="disabled")
            profiler.start()
            for _ in range(args.streams):
                await layer()
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False, show_all=False))
        except ImportError:
            import cProfile
            import pstats

            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.streams):
                await layer()
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
        return
    previous = 0.0
    print(f"{'layer':<12}{'ms CPU/stream':>15}{'added':>10}")
    chosen = args.layers.split(",") if args.layers else list(found)
    for name in chosen:
        ms = await cpu_per_call(found[name], args.streams)
        print(f"{name:<12}{ms:>15.2f}{ms - previous:>+10.2f}")
        previous = ms


if __name__ == "__main__":
    asyncio.run(main())
