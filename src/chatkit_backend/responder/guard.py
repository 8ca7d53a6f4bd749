"""``TimeoutModel``: bounds the wait for a model's first token and between its tokens.

It wraps any Agents SDK ``Model``. When a bound passes, the model's stream is closed
(which closes its HTTP request) and ``ModelTimeoutError`` is raised, so no reply hangs.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from agents import Model, ModelResponse
from agents.items import TResponseStreamEvent

from chatkit_backend.sdk_compat import WrappingModel


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


class TimeoutModel(WrappingModel):
    """A ``Model`` whose streams fail with ``ModelTimeoutError`` instead of stalling."""

    def __init__(self, inner: Model, *, first_token_timeout: float, idle_timeout: float) -> None:
        self.inner = inner
        self.first_token_timeout = first_token_timeout
        self.idle_timeout = idle_timeout

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        limit = self.first_token_timeout + self.idle_timeout
        try:
            async with asyncio.timeout(limit):
                return await self.inner.get_response(*args, **kwargs)
        except TimeoutError:
            raise ModelTimeoutError("response", limit) from None

    async def stream_response(
        self, *args: Any, **kwargs: Any
    ) -> AsyncIterator[TResponseStreamEvent]:
        stream = self.inner.stream_response(*args, **kwargs)
        loop = asyncio.get_running_loop()
        watchdog = _Watchdog(loop, loop.time() + self.first_token_timeout)
        started = False
        try:
            while True:
                watchdog.arm()
                try:
                    event = await anext(stream)
                except StopAsyncIteration:
                    return
                except asyncio.CancelledError:
                    if not watchdog.expired():
                        raise
                    if started:
                        raise ModelTimeoutError("token", self.idle_timeout) from None
                    raise ModelTimeoutError("first token", self.first_token_timeout) from None
                finally:
                    watchdog.waiting = False
                if not started and is_token_event(getattr(event, "type", None)):
                    started = True
                if started:
                    watchdog.deadline = loop.time() + self.idle_timeout
                yield event  # the consumer's time here does not count
        finally:
            watchdog.close()
            await stream.aclose()  # type: ignore[attr-defined]

    async def close(self) -> None:
        await self.inner.close()

    def get_retry_advice(self, request: Any) -> Any:
        return self.inner.get_retry_advice(request)


class _Watchdog:
    """Cancels the waiting task once ``deadline`` passes while it waits on the model.

    One timer per stream, not one per token: moving the deadline later only records it,
    and a timer that fires before the new deadline re-arms itself for it. It cancels only
    while the task waits for the model (``waiting``), never while the consumer has it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        self.loop = loop
        self.deadline = deadline
        self.waiting = False
        self._task: asyncio.Task[Any] | None = None
        self._cancelling = 0
        self._handle: asyncio.TimerHandle | None = None
        self._scheduled_for = 0.0
        self._fired = False

    def arm(self) -> None:
        """The task is about to wait on the model."""
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._cancelling = task.cancelling()
        self.waiting = True
        if self._handle is None:
            self._schedule()
        elif (
            self.deadline < self._scheduled_for
        ):  # the idle bound is shorter than the first-token one
            self._handle.cancel()
            self._schedule()

    def expired(self) -> bool:
        """True when the ``CancelledError`` being handled is this watchdog's (it is consumed)."""
        if not self._fired or self._task is None:
            return False
        self._fired = False
        return self._task.uncancel() <= self._cancelling

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self) -> None:
        self._scheduled_for = self.deadline
        self._handle = self.loop.call_at(self.deadline, self._check)

    def _check(self) -> None:
        self._handle = None
        if not self.waiting or self._task is None:
            return  # the consumer has the task; ``arm`` schedules again
        if self.deadline > self._scheduled_for:
            self._schedule()  # an event came since: wait for the new deadline
            return
        self._fired = True
        self._task.cancel()
