"""Server-Sent Events: lines in, ChatKit ``ThreadStreamEvent`` objects out."""

from collections.abc import AsyncIterable, AsyncIterator

from chatkit.types import ThreadStreamEvent
from pydantic import TypeAdapter, ValidationError

from chatkit_backend.client.errors import ProtocolError

EVENT_ADAPTER: TypeAdapter[ThreadStreamEvent] = TypeAdapter(ThreadStreamEvent)


async def sse_data(lines: AsyncIterable[str]) -> AsyncIterator[str]:
    """Yield the ``data`` of each event: ``data:`` lines joined by newlines, ended by a blank line.

    Comments (``:`` lines) and the ``event``, ``id`` and ``retry`` fields are ignored, as
    ChatKit servers send every event as plain ``data:``.
    """
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value.removeprefix(" "))
    if data:
        yield "\n".join(data)


def parse_event(data: str) -> ThreadStreamEvent:
    """Validate one event's JSON into the SDK's event type."""
    try:
        return EVENT_ADAPTER.validate_json(data)
    except ValidationError as exc:
        raise ProtocolError(
            f"unreadable stream event: {exc.errors()[0]['msg']}: {data[:200]}"
        ) from None


async def stream_events(lines: AsyncIterable[str]) -> AsyncIterator[ThreadStreamEvent]:
    async for data in sse_data(lines):
        yield parse_event(data)
