"""The tools and widget actions of the lifecycle tests' app.

Tools run through the offline model (``/tool <name> {json}``); actions are registered
with ``create_app(actions=...)`` and the ``Actions`` decorator.
"""

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import Any

from agents import RunContextWrapper, function_tool
from chatkit.actions import Action
from chatkit.agents import AgentContext, ClientToolCall
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ClosedStatus,
    CustomTask,
    LockedStatus,
    SyncCustomActionResponse,
    ThreadItemDoneEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    WidgetItem,
    Workflow,
)
from chatkit.widgets import WidgetRoot

from chatkit_backend import Actions
from chatkit_backend.server import BackendServer
from tests.support.widgets import text_card, widget


@function_tool
async def lock_thread(ctx: RunContextWrapper[AgentContext[Any]], reason: str) -> str:
    """Lock the thread (a tool that decides the conversation is over)."""
    ctx.context.thread.status = LockedStatus(reason=reason)
    return "locked the thread"


@function_tool
async def research(ctx: RunContextWrapper[AgentContext[Any]], topic: str) -> str:
    """A workflow: start with one task, add one, update the first, add one, end it."""
    agent = ctx.context
    await agent.start_workflow(Workflow(type="custom", tasks=[CustomTask(title="Searching")]))
    await agent.add_workflow_task(CustomTask(title="Reading"))
    await agent.update_workflow_task(CustomTask(title="Searched", status_indicator="complete"), 0)
    await agent.add_workflow_task(CustomTask(title="Summarising"))
    await agent.end_workflow()
    return f"researched {topic}"


@function_tool
async def live_card(ctx: RunContextWrapper[AgentContext[Any]]) -> str:
    """A widget streamed from a generator that changes one widget in place."""

    async def states() -> AsyncGenerator[WidgetRoot, None]:
        card = text_card("step 1")
        yield card
        for step in (2, 3):
            await asyncio.sleep(0)
            text: Any = card.children[0]  # type: ignore[index]
            text.value = f"step {step}"  # the same widget, changed in place
            yield card

    await ctx.context.stream_widget(states())
    return "showed a live card"


@function_tool
async def ask_browser(ctx: RunContextWrapper[AgentContext[Any]]) -> str:
    """A client tool: the browser answers with threads.add_client_tool_output."""
    ctx.context.client_tool_call = ClientToolCall(name="get_selection", arguments={})
    return "asked the browser"


TOOLS = [lock_thread, research, live_card, ask_browser]

# -- widget actions ------------------------------------------------------------------------
actions = Actions()
CALLS: list[dict[str, Any]] = []
"""What the action handlers received, newest last (tests read it)."""


@actions.action("vote")
async def vote(
    action: Action[str, Any],
    item: WidgetItem | None,
    thread: ThreadMetadata,
    context: Any,
    server: BackendServer,
) -> AsyncIterator[ThreadStreamEvent]:
    """Streamed: say thanks for the vote, as an assistant message."""
    CALLS.append(
        {
            "type": action.type,
            "payload": action.payload,
            "item_id": item.id if item is not None else None,
            "thread_id": thread.id,
            "user_id": context.user_id,
        }
    )
    text = f"Thanks for voting {action.payload['choice']}"
    yield ThreadItemDoneEvent(
        item=AssistantMessageItem(
            id=server.store.generate_item_id("message", thread, context),
            thread_id=thread.id,
            created_at=datetime.now(),
            content=[AssistantMessageContent(text=text)],
        )
    )


@actions.action("close")
async def close(
    action: Action[str, Any], item: WidgetItem | None, thread: ThreadMetadata, context: Any
) -> AsyncIterator[ThreadStreamEvent]:
    """Streamed: close the thread, with the payload's reason."""
    thread.status = ClosedStatus(reason=action.payload["reason"])
    return
    yield  # an async generator


@actions.action("toggle")
async def toggle(
    action: Action[str, Any], item: WidgetItem | None, thread: ThreadMetadata, context: Any
) -> SyncCustomActionResponse:
    """Sync: the widget, its text replaced by the payload's."""
    assert item is not None
    updated = item.model_copy(update={"widget": text_card(action.payload["text"])})
    return SyncCustomActionResponse(updated_item=updated)


async def answer(
    action: Action[str, Any],
    item: WidgetItem | None,
    thread: ThreadMetadata,
    context: Any,
    server: BackendServer,
) -> AsyncIterator[ThreadStreamEvent]:
    """Streamed, registered with create_app(actions={...}): let the agent answer."""
    async for event in server.respond(thread, None, context):
        yield event


def widget_item(thread_id: str, item_id: str = "wdg_poll") -> WidgetItem:
    """A poll widget stored in a thread (what actions come from)."""
    return WidgetItem(
        id=item_id,
        thread_id=thread_id,
        created_at=datetime.now(),
        widget=widget({"type": "Card", "children": [{"type": "Text", "value": "Vote!"}]}),
    )
