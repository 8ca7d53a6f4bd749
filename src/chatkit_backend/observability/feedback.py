"""Feedback read back: each rated assistant message, with the user message it answered.

ChatKit's thumbs up and down (``items.feedback``) name the items of an assistant turn;
the store keeps them as they came (``BackendStore.save_feedback``). ``rated_messages``
turns the feedback rows ``admin_feedback`` lists into one ``RatedMessage`` per assistant
message rated, with the nearest user message before it in its thread, for the
``chatkit-backend feedback`` commands. Items that are not assistant messages (a widget,
a workflow) are skipped; an item deleted since is skipped too.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chatkit.store import NotFoundError
from chatkit.types import (
    AssistantMessageItem,
    ThreadItem,
    UserMessageItem,
    UserMessageTagContent,
    UserMessageTextContent,
)

from chatkit_backend.context import RequestContext
from chatkit_backend.stores.base import BackendStore
from chatkit_backend.stores.usage import FeedbackQuery

LOOKBACK = 50
"""Items read back from a rated message to find the user message it answered."""


@dataclass(frozen=True, slots=True)
class RatedMessage:
    """One assistant message and its rating; ``user_text`` is the user message before it
    (None when the thread holds none within ``LOOKBACK`` items)."""

    rated_at: datetime
    kind: str
    user_id: str
    thread_id: str
    item_id: str
    assistant_text: str
    user_message_id: str | None
    user_text: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "rated_at": self.rated_at.isoformat(),
            "kind": self.kind,
            "user_id": self.user_id,
            "thread_id": self.thread_id,
            "item_id": self.item_id,
            "assistant": self.assistant_text,
            "user_message_id": self.user_message_id,
            "user_message": self.user_text,
        }


def message_text(item: ThreadItem) -> str:
    """The plain text of a user or assistant message (tags as their text)."""
    if isinstance(item, AssistantMessageItem):
        return "".join(part.text for part in item.content)
    if isinstance(item, UserMessageItem):
        return "".join(
            part.text
            for part in item.content
            if isinstance(part, UserMessageTextContent | UserMessageTagContent)
        )
    return ""


async def rated_messages(store: BackendStore, query: FeedbackQuery) -> list[RatedMessage]:
    """The assistant messages rated by the feedback ``query`` selects, oldest rating first."""
    rated: list[RatedMessage] = []
    for row in await store.admin_feedback(query):
        context = RequestContext(user_id=row.user_id)  # the stored owner reads as itself
        for item_id in row.item_ids:
            try:
                item = await store.load_item(row.thread_id, item_id, context)
            except NotFoundError:
                continue  # deleted since it was rated
            if not isinstance(item, AssistantMessageItem):
                continue
            question = await _asked_before(store, row.thread_id, item_id, context)
            rated.append(
                RatedMessage(
                    rated_at=row.created_at,
                    kind=row.kind,
                    user_id=row.user_id,
                    thread_id=row.thread_id,
                    item_id=item_id,
                    assistant_text=message_text(item),
                    user_message_id=question.id if question is not None else None,
                    user_text=message_text(question) if question is not None else None,
                )
            )
    return rated


async def _asked_before(
    store: BackendStore, thread_id: str, item_id: str, context: RequestContext
) -> UserMessageItem | None:
    page = await store.load_thread_items(thread_id, item_id, LOOKBACK, "desc", context)
    for item in page.data:
        if isinstance(item, UserMessageItem):
            return item
    return None
