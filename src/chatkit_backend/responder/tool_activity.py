"""Tool calls made visible in the thread, and generated images kept out of the database.

- ``ToolActivityHooks`` (Agents SDK ``RunHooks``): when a local tool starts (a function
  tool, an MCP server's tool) the thread shows the progress update "Calling <tool>…"
  until the next output replaces it; like a tool's own ``ctx.context.stream(...)``, it is
  not stored.
- ``HostedToolTasks``: hosted tools run on OpenAI's side and only show up in the model's
  stream (``web_search_call``, ``file_search_call``, ``code_interpreter_call``,
  ``mcp_call`` output items). Each becomes a workflow task (a ``SearchTask`` with the
  query and the sources searched, a ``FileTask`` with the files found, the code run...).
  ``responder/run_events.py`` hands it the model's events.
- ``StoredImages`` (a ``chatkit.agents.ResponseStreamConverter``): an image from
  ``image_generation`` is saved through the attachment store (``save_generated``) and the
  thread item keeps its URL; only the in-progress previews stream as data URLs, which are
  never stored.

The answer's web and file search citations become the message's annotations (sources)
through the converter (``url_citation`` and ``file_citation``, the SDK's mapping).
"""

import base64
import binascii
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any, Literal

from agents import Agent, RunContextWrapper, RunHooks, Tool
from chatkit.agents import AgentContext, ResponseStreamConverter
from chatkit.types import (
    Attachment,
    CustomTask,
    FileSource,
    FileTask,
    ImageAttachment,
    ProgressUpdateEvent,
    SearchTask,
    Task,
    ThreadItemAddedEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
    URLSource,
    Workflow,
    WorkflowItem,
    WorkflowTaskAdded,
    WorkflowTaskUpdated,
)

logger = logging.getLogger("chatkit_backend.responder")

HOSTED_CALL_TYPES = frozenset(
    {"web_search_call", "file_search_call", "code_interpreter_call", "mcp_call"}
)
ITEM_EVENTS = frozenset({"response.output_item.added", "response.output_item.done"})
"""The model events ``HostedToolTasks.events`` reads (the others pass it by)."""
IMAGE_TYPES = {
    b"\x89PNG\r\n\x1a\n": ("image/png", "png"),
    b"\xff\xd8\xff": ("image/jpeg", "jpg"),
    b"RIFF": ("image/webp", "webp"),
}


TaskStatus = Literal["none", "loading", "complete"]
ImageSaver = Callable[..., Awaitable[Attachment]]
"""``BackendAttachmentStore.save_generated(data, mime_type, name, context, thread_id=...)``."""


# -- local tools ---------------------------------------------------------------------------
class ToolActivityHooks(RunHooks[Any]):
    """A progress update naming each local tool as it starts (see the module docstring)."""

    async def on_tool_start(
        self, context: RunContextWrapper[Any], agent: Agent[Any], tool: Tool
    ) -> None:
        chat = context.context
        if isinstance(chat, AgentContext):
            await chat.stream(ProgressUpdateEvent(text=f"Calling {tool.name}…"))


# -- hosted tools --------------------------------------------------------------------------
class HostedToolTasks:
    """Workflow tasks for the hosted tool calls in one run's model stream."""

    def __init__(self) -> None:
        self.tasks: dict[str, tuple[str, int]] = {}
        """Output item id -> (workflow item id, task index)."""

    async def events(
        self, context: AgentContext[Any], event: Any, produced_items: dict[str, None]
    ) -> AsyncIterator[ThreadStreamEvent]:
        """The thread events for one model event (none unless it adds or finishes a hosted
        tool call). A workflow this starts goes in ``produced_items`` (a guardrail trip
        removes it)."""
        item = getattr(event, "item", None)
        if event.type not in ITEM_EVENTS or getattr(item, "type", None) not in HOSTED_CALL_TYPES:
            return
        done = event.type == "response.output_item.done"
        task = hosted_task(item, done=done)
        item_id = str(getattr(item, "id", "") or "")
        workflow = context.workflow_item
        known = self.tasks.get(item_id)
        if done and known is not None and workflow is not None and workflow.id == known[0]:
            workflow.workflow.tasks[known[1]] = task
            yield ThreadItemUpdatedEvent(
                item_id=workflow.id, update=WorkflowTaskUpdated(task=task, task_index=known[1])
            )
            return
        if workflow is None:
            workflow = WorkflowItem(
                id=context.generate_id("workflow"),
                created_at=datetime.now(),
                workflow=Workflow(type="custom", tasks=[task]),
                thread_id=context.thread.id,
            )
            context.workflow_item = workflow
            produced_items[workflow.id] = None
            self.tasks[item_id] = (workflow.id, 0)
            yield ThreadItemAddedEvent(item=workflow)
            return
        tasks = workflow.workflow.tasks
        tasks.append(task)
        self.tasks[item_id] = (workflow.id, len(tasks) - 1)
        yield ThreadItemUpdatedEvent(
            item_id=workflow.id, update=WorkflowTaskAdded(task=task, task_index=len(tasks) - 1)
        )


def hosted_task(item: Any, *, done: bool) -> Task:
    """The workflow task showing a hosted tool call (an output item of the Responses API)."""
    status: TaskStatus = "complete" if done else "loading"
    kind = item.type
    if kind == "web_search_call":
        action = getattr(item, "action", None)
        queries = [q for q in [getattr(action, "query", None)] if q] or list(
            getattr(action, "queries", None) or []
        )
        sources = [
            URLSource(url=source.url, title=source.url)
            for source in getattr(action, "sources", None) or []
            if getattr(source, "url", None)
        ]
        return SearchTask(
            title="Searched the web" if done else "Searching the web",
            title_query=queries[0] if queries else None,
            queries=queries,
            sources=sources,
            status_indicator=status,
        )
    if kind == "file_search_call":
        files = {
            result.filename: FileSource(filename=result.filename, title=result.filename)
            for result in getattr(item, "results", None) or []
            if getattr(result, "filename", None)
        }
        queries = list(getattr(item, "queries", None) or [])
        about = f" for “{queries[0]}”" if queries else ""
        return FileTask(
            title=("Searched files" if done else "Searching files") + about,
            sources=list(files.values()),
            status_indicator=status,
        )
    if kind == "code_interpreter_call":
        code = getattr(item, "code", None)
        return CustomTask(
            title="Ran code" if done else "Running code",
            content=f"```python\n{code}\n```" if code else None,
            status_indicator=status,
        )
    name = getattr(item, "name", "a tool")
    server = getattr(item, "server_label", None)
    on = f" on {server}" if server else ""
    return CustomTask(
        title=f"{'Called' if done else 'Calling'} {name}{on}", status_indicator=status
    )


# -- generated images ------------------------------------------------------------------------
class StoredImages(ResponseStreamConverter):
    """Generated images saved as attachments of the thread; the item keeps their URL."""

    def __init__(
        self,
        save: ImageSaver | None,
        context: Any,
        thread_id: str,
        *,
        partial_images: int | None = None,
    ) -> None:
        super().__init__(partial_images=partial_images)
        self.save = save
        self.context = context
        self.thread_id = thread_id

    async def base64_image_to_url(
        self, image_id: str, base64_image: str, partial_image_index: int | None = None
    ) -> str:
        """The final image's preview URL (saved through the attachment store); a preview
        frame as a data URL, shown while streaming and never stored."""
        if partial_image_index is not None:
            return await super().base64_image_to_url(image_id, base64_image, partial_image_index)
        if self.save is None:
            logger.warning(
                "a generated image was dropped: attachments are off (CHATKIT_ATTACHMENTS), so "
                "there is nowhere to keep it",
                extra={"request_id": getattr(self.context, "request_id", "")},
            )
            return ""
        try:
            data = base64.b64decode(base64_image, validate=True)
        except (binascii.Error, ValueError):
            logger.warning("the model sent a generated image that is not base64; dropped")
            return ""
        mime_type, extension = image_type(data)
        saved = await self.save(
            data,
            mime_type,
            f"generated-{image_id}.{extension}",
            self.context,
            thread_id=self.thread_id,
        )
        if not isinstance(saved, ImageAttachment) or saved.preview_url is None:
            logger.warning("the generated image %s was saved without a preview URL", saved.id)
            return ""
        return str(saved.preview_url)


def image_type(data: bytes) -> tuple[str, str]:
    """The MIME type and file extension of image bytes (PNG when unknown)."""
    for signature, found in IMAGE_TYPES.items():
        if data.startswith(signature):
            return found
    return "image/png", "png"
