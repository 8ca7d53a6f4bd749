"""Streamed events are snapshots: what an item was when its event was emitted.

A tool streams through ``AgentContext`` helpers (``stream``, ``stream_widget``,
``start_workflow``, ``add_workflow_task``, ``update_workflow_task``, ``end_workflow``).
The SDK enqueues those events holding the live item, and the reply reads them later:
by then a workflow started with one task already holds every task added since, so its
``thread.item.added`` carries them all, the ``workflow.task.added`` events that follow
add them again, and a client applying the events in order shows each task twice. A
widget streamed from a generator that changes one widget in place and yields it again
has nothing to diff, so its updates never reach the client.

``SnapshotAgentContext`` is the ``AgentContext`` the responder gives tools. It copies
each event when it is enqueued, and diffs a streamed widget's states against copies of
the previous ones. It also keeps, at enqueue time, which workflow is open: a workflow a
tool ended (``end_workflow``, or a ``thread.item.done`` it streamed) is closed right
away, so the reply's converter does not take it up again when it reads the workflow's
``thread.item.added`` later and end it a second time (``adopted_workflow``).
"""

from collections.abc import AsyncGenerator
from typing import Any

from chatkit.agents import AgentContext
from chatkit.server import stream_widget
from chatkit.types import (
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadStreamEvent,
    WorkflowItem,
)
from chatkit.widgets import WidgetRoot
from pydantic import PrivateAttr


class SnapshotAgentContext(AgentContext[Any]):
    """An ``AgentContext`` whose streamed events are snapshots (module docstring)."""

    _live_workflows: dict[str, WorkflowItem] = PrivateAttr(default_factory=dict)
    _ended_workflows: set[str] = PrivateAttr(default_factory=set)

    async def stream(self, event: ThreadStreamEvent) -> None:
        """Enqueue a copy of ``event``, as it is now."""
        if isinstance(event, ThreadItemAddedEvent) and isinstance(event.item, WorkflowItem):
            self._live_workflows[event.item.id] = event.item
        elif isinstance(event, ThreadItemDoneEvent) and isinstance(event.item, WorkflowItem):
            self._ended_workflows.add(event.item.id)
            if self.workflow_item is not None and self.workflow_item.id == event.item.id:
                self.workflow_item = None
        await super().stream(event.model_copy(deep=True))

    async def stream_widget(
        self,
        widget: WidgetRoot | AsyncGenerator[WidgetRoot, None],
        copy_text: str | None = None,
    ) -> None:
        """Stream a widget (or the states an async generator yields), each state diffed
        against a copy of the one before, so a widget changed in place streams its changes."""
        source = _copies(widget) if isinstance(widget, AsyncGenerator) else widget
        async for event in stream_widget(
            self.thread,
            source,
            copy_text,
            lambda item_type: self.store.generate_item_id(
                item_type, self.thread, self.request_context
            ),
        ):
            await self.stream(event)

    def is_ended(self, workflow_id: str) -> bool:
        """True once a tool ended the workflow (at enqueue time)."""
        return workflow_id in self._ended_workflows

    def live_workflow(self, workflow_id: str) -> WorkflowItem | None:
        """The workflow item a tool streamed, as it is now (not the event's copy)."""
        return self._live_workflows.get(workflow_id)


async def _copies(
    states: AsyncGenerator[WidgetRoot, None],
) -> AsyncGenerator[WidgetRoot, None]:
    async for state in states:
        yield state.model_copy(deep=True)


def adopted_workflow(context: AgentContext[Any], item: WorkflowItem) -> WorkflowItem | None:
    """The workflow to keep open when the reply reads a tool's ``thread.item.added`` for
    ``item``: the tool's live item, unless the tool ended it already (then whatever is
    open now). With the SDK's own ``AgentContext``, the event's item (its behaviour)."""
    if not isinstance(context, SnapshotAgentContext):
        return item
    if context.is_ended(item.id):
        return context.workflow_item
    return context.live_workflow(item.id) or item
