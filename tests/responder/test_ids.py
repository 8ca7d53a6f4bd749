"""``ItemIdRewriter``: model item ids (``__fake_id__`` included) become store ids, consistently."""

import itertools
from datetime import datetime

from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
)

from chatkit_backend.responder.ids import ItemIdRewriter

FAKE = "__fake_id__"


def rewriter() -> ItemIdRewriter:
    numbers = itertools.count(1)
    return ItemIdRewriter(lambda kind: f"{kind}_{next(numbers)}")


def message(text: str = "") -> AssistantMessageItem:
    return AssistantMessageItem(
        id=FAKE,
        thread_id="t",
        created_at=datetime.now(),
        content=[AssistantMessageContent(text=text)],
    )


def delta(text: str) -> ThreadItemUpdatedEvent:
    return ThreadItemUpdatedEvent(
        item_id=FAKE, update=AssistantMessageContentPartTextDelta(content_index=0, delta=text)
    )


def ids_of(events: list[ThreadStreamEvent]) -> list[str]:
    found = []
    for event in events:
        if isinstance(event, ThreadItemAddedEvent | ThreadItemDoneEvent):
            found.append(event.item.id)
        elif isinstance(event, ThreadItemUpdatedEvent | ThreadItemRemovedEvent):
            found.append(event.item_id)
    return found


def test_messages_sharing_a_fake_id_get_their_own_store_ids() -> None:
    ids = rewriter()
    stream: list[ThreadStreamEvent] = [
        ThreadItemAddedEvent(item=message()),
        delta("first"),
        ThreadItemDoneEvent(item=message("first")),
        ThreadItemAddedEvent(item=message()),
        delta("second"),
        ThreadItemDoneEvent(item=message("second")),
    ]

    out = [rewritten for event in stream for rewritten in ids.rewrite(event)]

    assert ids_of(out) == ["message_1"] * 3 + ["message_2"] * 3
    assert ids.unfinished() == []


def test_unfinished_message_keeps_its_streamed_text() -> None:
    ids = rewriter()
    events: list[ThreadStreamEvent] = [
        ThreadItemAddedEvent(item=message()),
        delta("Half "),
        delta("done"),
    ]
    for event in events:
        ids.rewrite(event)

    [partial] = ids.unfinished()

    assert (partial.id, partial.content[0].text) == ("message_1", "Half done")


def test_removal_of_a_model_id_removes_every_item_given_for_it() -> None:
    ids = rewriter()
    events: list[ThreadStreamEvent] = [
        ThreadItemAddedEvent(item=message()),
        ThreadItemDoneEvent(item=message("a")),
        ThreadItemAddedEvent(item=message()),
        delta("b"),
    ]
    for event in events:
        ids.rewrite(event)

    removed = ids.rewrite(ThreadItemRemovedEvent(item_id=FAKE))

    assert ids_of(removed) == ["message_1", "message_2"]
    assert ids.unfinished() == []


def test_other_events_pass_through_unchanged() -> None:
    event = ThreadItemRemovedEvent(item_id="wf_1")
    assert rewriter().rewrite(event) == [event]
