"""``ItemIdRewriter``: store-generated ids for the items a model produces.

``stream_agent_response`` reuses the model's output item id as the thread item id. With
Chat Completions the Agents SDK gives every item the id ``__fake_id__``, so each reply
would overwrite the previous one in the store (openai/chatkit-python issue 36). The
rewriter gives every assistant message and client tool call a fresh id from the store,
and maps the item's later updates onto it. It also keeps the text streamed so far, so a
reply cut short by a failure can still be saved.
"""

from collections.abc import Callable

from chatkit.store import StoreItemType
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ClientToolCallItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
)


class ItemIdRewriter:
    """Rewrites the ids of one response's events; ``generate`` is the store's id generator."""

    def __init__(self, generate: Callable[[StoreItemType], str]) -> None:
        self._generate = generate
        self._streaming: dict[str, str] = {}  # model id -> store id, for items not done yet
        self._given: dict[str, list[str]] = {}  # model id -> every store id given for it
        self._pending: dict[str, AssistantMessageItem] = {}  # store id -> text so far

    def rewrite(self, event: ThreadStreamEvent) -> list[ThreadStreamEvent]:
        """The event with store ids (a removal may stand for several items)."""
        match event:
            case ThreadItemAddedEvent(item=AssistantMessageItem() as item):
                new_id = self._new_id(item.id, "message")
                self._streaming[item.id] = new_id
                # The SDK built ``item`` for this event alone: a shallow copy is enough, and
                # the text kept for a failure gets content parts of its own.
                renamed = item.model_copy(update={"id": new_id})
                self._pending[new_id] = renamed.model_copy(
                    update={"content": [part.model_copy() for part in renamed.content]}
                )
                return [ThreadItemAddedEvent(item=renamed)]
            case ThreadItemUpdatedEvent() if event.item_id in self._streaming:
                new_id = self._streaming[event.item_id]
                self._track_update(new_id, event)
                # One per token, built by ``stream_agent_response`` for this event alone:
                # renamed in place rather than copied.
                event.item_id = new_id
                return [event]
            case ThreadItemDoneEvent(item=AssistantMessageItem() as item):
                new_id = self._streaming.pop(item.id, "") or self._new_id(item.id, "message")
                self._pending.pop(new_id, None)
                return [ThreadItemDoneEvent(item=item.model_copy(update={"id": new_id}))]
            case ThreadItemDoneEvent(item=ClientToolCallItem() as item):
                new_id = self._new_id(item.id, "tool_call")
                return [ThreadItemDoneEvent(item=item.model_copy(update={"id": new_id}))]
            case ThreadItemRemovedEvent() if event.item_id in self._given:
                for new_id in self._given[event.item_id]:
                    self._pending.pop(new_id, None)
                return [
                    ThreadItemRemovedEvent(item_id=new_id)
                    for new_id in self._given.pop(event.item_id)
                ]
        return [event]

    def unfinished(self) -> list[AssistantMessageItem]:
        """Assistant messages that started but never finished and have some text."""
        return [
            item
            for item in self._pending.values()
            if any(content.text.strip() for content in item.content)
        ]

    def _new_id(self, model_id: str, kind: StoreItemType) -> str:
        new_id = self._generate(kind)
        self._given.setdefault(model_id, []).append(new_id)
        return new_id

    def _track_update(self, new_id: str, event: ThreadItemUpdatedEvent) -> None:
        item = self._pending.get(new_id)
        update = event.update
        if item is None or not isinstance(
            update,
            AssistantMessageContentPartAdded
            | AssistantMessageContentPartTextDelta
            | AssistantMessageContentPartDone,
        ):
            return
        while len(item.content) <= update.content_index:
            item.content.append(AssistantMessageContent(text=""))
        if isinstance(update, AssistantMessageContentPartTextDelta):
            item.content[update.content_index].text += update.delta
        else:
            item.content[update.content_index] = update.content.model_copy(deep=True)
