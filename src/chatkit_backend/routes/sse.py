"""``EventStreamResponse``: Server-Sent Events that survive a client going away.

The events are produced in a task of their own and handed over through a queue. When
the client disconnects (noticed by listening on ``receive``, even while the model is
silent), the producer task is cancelled once: asyncio's cancellation is a single
``CancelledError``, so the SDK's ``handle_stream_cancelled`` can still save the partial
assistant message. Under Starlette's ``StreamingResponse`` the generator runs inside an
anyio cancel scope that cancels every later ``await`` too, and nothing would be saved.
With ``on_disconnect`` (``CHATKIT_ON_DISCONNECT=finish``) a disconnect does not cancel
the producer: it runs to its end and its events are dropped (a stop request still
cancels it, through the reply's lease: ``server/leases.py``).

The queue is unbounded on purpose: the producer must never wait on a slow client, or a
cancellation would land in ``queue.put`` instead of inside the SDK's generator, and the
SDK would not see it. A reply is finite, so at worst it is buffered whole. The sender
awaits ``queue.get()`` alone (no task or ``asyncio.wait`` per event), sends every event
that is ready in one write, and the disconnect watcher wakes it with a sentinel.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

logger = logging.getLogger("chatkit_backend.stream")

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}
_END = object()  # the producer finished
_GONE = object()  # the client disconnected
_BACKGROUND: set[asyncio.Task[None]] = set()


class EventStreamResponse(Response):
    media_type = "text/event-stream"

    def __init__(
        self,
        source: Callable[[], AsyncIterator[bytes]],
        *,
        headers: dict[str, str] | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
        background: BackgroundTask | None = None,
        on_disconnect: Callable[[], None] | None = None,
    ) -> None:
        """``on_disconnect``: when given, a client that goes away does not cancel the
        producer: this is called, and the producer runs to its end, its events dropped
        (``CHATKIT_ON_DISCONNECT=finish``)."""
        self.source = source
        self.on_close = on_close
        self.on_disconnect = on_disconnect
        self.status_code = 200
        self.background = background
        self.init_headers({**SSE_HEADERS, **(headers or {})})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        queue: asyncio.Queue[object] = asyncio.Queue()
        producer = asyncio.create_task(self._produce(queue))
        watcher = asyncio.create_task(
            _watch_disconnect(receive, producer, queue, cancel=self.on_disconnect is None)
        )
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            more = True
            while more:
                # Send every event that is ready in one write: fewer sends, same bytes.
                chunks = [await queue.get()]
                while not queue.empty():
                    chunks.append(queue.get_nowait())
                if _GONE in chunks:
                    break
                if chunks[-1] is _END:
                    chunks.pop()
                    more = False
                body = b"".join(chunks)  # type: ignore[arg-type]
                await send({"type": "http.response.body", "body": body, "more_body": more})
        except OSError:
            pass  # the client went away while we were writing
        finally:
            watcher.cancel()
            if not producer.done():
                if self.on_disconnect is not None:
                    self.on_disconnect()  # the reply runs on, without its client
                elif (
                    not producer.cancelling()
                ):  # cancel once: a second one would cut the saving short
                    producer.cancel()
                # Let the producer finish its cancellation handling (saving the partial
                # message) even if this task is itself being cancelled.
                _BACKGROUND.add(producer)
                producer.add_done_callback(_BACKGROUND.discard)
                try:
                    await asyncio.shield(producer)
                except BaseException:
                    pass
            if self.on_close is not None:
                await asyncio.shield(self.on_close())
        if self.background is not None:
            await self.background()

    async def _produce(self, queue: asyncio.Queue[object]) -> None:
        try:
            async for chunk in self.source():
                queue.put_nowait(chunk)
        except Exception:
            logger.exception("event stream failed")
        finally:  # cancelled too (a stop request): the response ends
            queue.put_nowait(_END)


async def _watch_disconnect(
    receive: Receive,
    producer: "asyncio.Task[None]",
    queue: asyncio.Queue[object],
    *,
    cancel: bool = True,
) -> None:
    """On ``http.disconnect``: cancel the producer at once (unless ``cancel`` is False),
    and wake the sender."""
    await _wait_for_disconnect(receive)
    if cancel and not producer.cancelling():  # once: a stop request may have cancelled it
        producer.cancel()
    queue.put_nowait(_GONE)


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
