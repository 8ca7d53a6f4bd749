"""``Reply``: what one streamed turn produced, gathered from its events."""

from collections.abc import Callable
from dataclasses import dataclass, field

from chatkit.types import (
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ErrorEvent,
    NoticeEvent,
    ThreadCreatedEvent,
    ThreadItem,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
    ThreadUpdatedEvent,
)

from chatkit_backend.client.errors import StreamError


@dataclass
class Reply:
    """The thread a turn ran in, the assistant's text, and every event and finished item."""

    thread_id: str | None = None
    text: str = ""
    title: str | None = None
    items: list[ThreadItem] = field(default_factory=list)
    notices: list[NoticeEvent] = field(default_factory=list)
    events: list[ThreadStreamEvent] = field(default_factory=list)


class ReplyCollector:
    """Feeds events into a ``Reply``; calls ``on_text`` with each text delta as it arrives."""

    def __init__(
        self, thread_id: str | None = None, on_text: Callable[[str], None] | None = None
    ) -> None:
        self.reply = Reply(thread_id=thread_id)
        self.on_text = on_text
        self._streamed: dict[str, str] = {}

    def add(self, event: ThreadStreamEvent) -> None:
        """Record one event; an ``ErrorEvent`` raises ``StreamError``."""
        reply = self.reply
        reply.events.append(event)
        match event:
            case ThreadCreatedEvent() | ThreadUpdatedEvent():
                reply.thread_id = event.thread.id
                reply.title = event.thread.title
            case ThreadItemUpdatedEvent(update=AssistantMessageContentPartTextDelta(delta=delta)):
                self._streamed[event.item_id] = self._streamed.get(event.item_id, "") + delta
                if self.on_text is not None:
                    self.on_text(delta)
            case ThreadItemDoneEvent():
                reply.items.append(event.item)
                reply.thread_id = reply.thread_id or event.item.thread_id
            case NoticeEvent():
                reply.notices.append(event)
            case ErrorEvent():
                raise StreamError(
                    event.message or f"the server reported {event.code!s} during the stream",
                    code=str(getattr(event.code, "value", event.code)),
                    allow_retry=event.allow_retry,
                )

    def finish(self) -> Reply:
        """Settle the reply's text: finished assistant messages, else what was streamed."""
        reply = self.reply
        done = [item for item in reply.items if isinstance(item, AssistantMessageItem)]
        texts = ["".join(part.text for part in item.content) for item in done]
        done_ids = {item.id for item in done}
        texts += [text for item_id, text in self._streamed.items() if item_id not in done_ids]
        reply.text = "\n\n".join(text for text in texts if text)
        return reply
