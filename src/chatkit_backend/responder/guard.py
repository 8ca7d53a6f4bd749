"""``TimeoutModel``: bounds the wait for a model's first token and between its tokens.

It wraps any Agents SDK ``Model``. When a bound passes, the model's stream is closed
(which closes its HTTP request) and ``ModelTimeoutError`` is raised, so no reply hangs.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from agents import Model, ModelResponse
from agents.items import TResponseStreamEvent


def is_token_event(event_type: str | None) -> bool:
    """True for events that carry output (deltas, finished parts); the rest is preamble."""
    if not event_type:
        return False
    return event_type.endswith((".delta", ".done")) or event_type == "response.completed"


class ModelTimeoutError(Exception):
    """The model sent nothing for too long."""

    def __init__(self, phase: str, seconds: float) -> None:
        super().__init__(f"no {phase} from the model within {seconds:g}s")
        self.phase = phase
        self.seconds = seconds


class TimeoutModel(Model):
    """A ``Model`` whose streams fail with ``ModelTimeoutError`` instead of stalling."""

    def __init__(self, inner: Model, *, first_token_timeout: float, idle_timeout: float) -> None:
        self.inner = inner
        self.first_token_timeout = first_token_timeout
        self.idle_timeout = idle_timeout

    def __getattr__(self, name: str) -> Any:
        # Anything else (the model name, provider-specific helpers) comes from the wrapped model.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        limit = self.first_token_timeout + self.idle_timeout
        try:
            async with asyncio.timeout(limit):
                return await self.inner.get_response(*args, **kwargs)
        except TimeoutError:
            raise ModelTimeoutError("response", limit) from None

    async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[TResponseStreamEvent]:
        stream = self.inner.stream_response(*args, **kwargs)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.first_token_timeout
        started = False
        try:
            while True:
                try:
                    async with asyncio.timeout_at(deadline) as scope:
                        event = await anext(stream)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    if not scope.expired():
                        raise
                    if started:
                        raise ModelTimeoutError("token", self.idle_timeout) from None
                    raise ModelTimeoutError("first token", self.first_token_timeout) from None
                if not started and is_token_event(getattr(event, "type", None)):
                    started = True
                yield event
                if started:
                    deadline = loop.time() + self.idle_timeout
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    async def close(self) -> None:
        await self.inner.close()

    async def _cleanup_on_run_end(self, owner: object) -> None:
        await self.inner._cleanup_on_run_end(owner)

    def get_retry_advice(self, request: Any) -> Any:
        return self.inner.get_retry_advice(request)
