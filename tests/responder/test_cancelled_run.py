"""A reply cancelled mid-stream leaves no task behind and logs no orphaned task exception."""

import asyncio
import gc
import json
from typing import Any

from chatkit.server import StreamingResult

from chatkit_backend.context import RequestContext
from chatkit_backend.responder import AgentResponder
from chatkit_backend.server import BackendServer
from chatkit_backend.stores import MemoryStore
from tests.responder.conftest import offline_settings, user_input
from tests.support.wait import apoll

CREATE = {"type": "threads.create", "params": {"input": user_input("Tell me a story")}}


async def test_cancelled_reply_leaves_no_unretrieved_task_exception() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    store = MemoryStore()
    await store.open()
    server = BackendServer(
        store, responder=AgentResponder(offline_settings(offline_token_delay=0.01))
    )
    context = RequestContext(user_id="alice")
    tasks_before = asyncio.all_tasks()
    deltas: list[str] = []
    three_deltas = asyncio.Event()
    try:
        result = await server.process(json.dumps(CREATE), context)
        assert isinstance(result, StreamingResult)

        async def read(stream: StreamingResult) -> None:
            async for chunk in stream:
                if b"text_delta" in chunk:
                    deltas.append(json.loads(chunk.removeprefix(b"data: "))["update"]["delta"])
                    if len(deltas) == 3:
                        three_deltas.set()

        reader = asyncio.create_task(read(result))
        await asyncio.wait_for(three_deltas.wait(), timeout=5)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        del reader, result  # the cancellation's traceback holds the SDK's frames, and their tasks

        async def wound_down() -> bool:  # the run and the SDK's helper tasks
            return not _running_since(tasks_before)

        await apoll(wound_down, "the cancelled run's tasks ended", within=10)
        for _ in range(3):
            gc.collect()  # an exception nobody retrieved is reported when its task is collected
            await asyncio.sleep(0)  # and its report runs
        left = _running_since(tasks_before)
    finally:
        loop.set_exception_handler(previous_handler)
        await store.close()

    assert len(deltas) >= 3
    assert left == set()
    assert [context.get("message") for context in reported] == []


def _running_since(before: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    """Tasks started since ``before`` was taken that have not finished."""
    return {task for task in asyncio.all_tasks() - before if not task.done()}
