"""``TimeoutModel``: the bounds count the model's silence only, never the consumer's time."""

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from agents import ModelSettings, ModelTracing
from agents.items import TResponseStreamEvent

from chatkit_backend.responder.guard import ModelTimeoutError, TimeoutModel
from chatkit_backend.responder.offline import OfflineModel


def stream_of(model: TimeoutModel) -> AsyncIterator[TResponseStreamEvent]:
    return model.stream_response(
        None,
        [{"role": "user", "content": "hi"}],
        ModelSettings(),
        [],
        None,
        [],
        ModelTracing.DISABLED,
        previous_response_id=None,
        conversation_id=None,
        prompt=None,
    )


async def test_slow_consumer_does_not_trip_the_idle_bound() -> None:
    model = TimeoutModel(OfflineModel(token_delay=0.0), first_token_timeout=0.2, idle_timeout=0.15)
    types: list[str] = []
    async for event in stream_of(model):
        types.append(event.type)
        if len(types) <= 4:
            # a fixed wait on purpose: the consumer's slowness is the behaviour under test
            await asyncio.sleep(0.3)  # twice the idle bound, spent by the consumer

    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    assert types.count("response.output_text.delta") > 10


async def test_model_silent_before_its_first_token_raises_first_token_timeout() -> None:
    model = TimeoutModel(OfflineModel(token_delay=3.0), first_token_timeout=0.1, idle_timeout=5.0)
    types: list[str] = []
    started = time.monotonic()
    with pytest.raises(ModelTimeoutError) as raised:
        async for event in stream_of(model):
            types.append(event.type)

    assert raised.value.phase == "first token"
    assert types == [
        "response.created",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert 0.09 <= time.monotonic() - started < 2.0  # the 0.1s bound, not the model's 3s


async def test_shorter_idle_bound_applies_as_soon_as_tokens_flow() -> None:
    inner = OfflineModel(token_delay=0.0)
    model = TimeoutModel(inner, first_token_timeout=5.0, idle_timeout=0.1)
    stream = stream_of(model)
    types = [(await anext(stream)).type for _ in range(5)]  # past the first delta
    inner.token_delay = 3.0  # the model now stalls between tokens
    started = time.monotonic()
    with pytest.raises(ModelTimeoutError) as raised:
        async for _ in stream:
            pass

    assert "response.output_text.delta" in types
    assert raised.value.phase == "token"
    assert (
        0.09 <= time.monotonic() - started < 2.0
    )  # the 0.1s idle bound, not the 5s first-token one


async def test_cancelling_the_consumer_is_not_reported_as_a_timeout() -> None:
    model = TimeoutModel(OfflineModel(token_delay=0.5), first_token_timeout=0.2, idle_timeout=0.2)

    waiting = asyncio.Event()

    async def read() -> None:
        async for event in stream_of(model):
            if event.type == "response.content_part.added":
                waiting.set()  # the next event is the first token, half a second away

    task = asyncio.create_task(read())
    await asyncio.wait_for(waiting.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
