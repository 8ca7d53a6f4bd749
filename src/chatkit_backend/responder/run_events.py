"""``stream_run``: a streamed Agents SDK run as ChatKit events, without a task per event.

It yields what ``chatkit.agents.stream_agent_response`` yields for the same run (text,
annotations, refusals, reasoning as a workflow, generated images, tool calls, client tool
calls, events the tools stream through ``AgentContext``, guardrail trips removing what
was shown), rule for rule; ``tests/responder/test_run_events.py`` runs both on the same
recorded Agents SDK event sequences and compares the ChatKit events. Three differences,
all about cost, none visible to a client:

- The ``AgentContext``'s events (``ctx.context.stream(...)``, ``stream_widget``,
  workflows) are routed into the run's own event queue (``sdk_compat.route_context_events``)
  and read in the order they were produced, where the SDK merges two queues with a task
  and an ``asyncio.wait`` per event.
- With ``coalesce`` (the default), a run of at least ``COALESCE_MIN`` consecutive text
  deltas of one content part that are ready together (queued before the first is read
  out) goes out as one delta event with their texts joined: the client's text is the same,
  with fewer events to send. Shorter runs, and a delta arriving alone, go out as they
  came, so a model at its own pace streams token by token.
- ``recent_items`` (the thread's newest two items, newest first) spares the store read the
  SDK makes to find a workflow to continue, when the caller has them already.

Two differences a client sees, both fixes: an annotation is read by its fields (the
``annotation.added`` event's annotation classes are not the message's, and the SDK's
re-validation refuses them, ending the reply), and with ``hosted_tasks`` hosted tool calls
(web search, file search, code) show as workflow tasks (``responder/tool_activity.py``).
"""

from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agents import (
    InputGuardrailTripwireTriggered,
    OutputGuardrailTripwireTriggered,
    RunResultStreaming,
)
from chatkit.agents import AgentContext, ResponseStreamConverter
from chatkit.types import (
    Annotation,
    AssistantMessageContent,
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartAnnotationAdded,
    AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ClientToolCallItem,
    DurationSummary,
    GeneratedImage,
    GeneratedImageItem,
    GeneratedImageUpdated,
    ThoughtTask,
    ThreadItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
    Workflow,
    WorkflowItem,
    WorkflowTaskAdded,
    WorkflowTaskUpdated,
)
from openai.types.responses import ResponseFunctionToolCall
from openai.types.responses.response_output_text import Annotation as ResponsesAnnotation
from pydantic import BaseModel, TypeAdapter

from chatkit_backend import sdk_compat
from chatkit_backend.responder.fast_models import MERGE_MIN
from chatkit_backend.responder.snapshots import adopted_workflow
from chatkit_backend.responder.tool_activity import ITEM_EVENTS as HOSTED_ITEM_EVENTS
from chatkit_backend.responder.tool_activity import HostedToolTasks

DEFAULT_CONVERTER = ResponseStreamConverter()
COALESCE_MIN = MERGE_MIN
"""The shortest run of ready text deltas sent as one event (shorter runs: one per delta);
the fast models merge the deltas of one network read by the same rule."""
_ANNOTATION: TypeAdapter[ResponsesAnnotation] = TypeAdapter(ResponsesAnnotation)


@dataclass(slots=True)
class _Thought:
    """The reasoning summary being streamed as the workflow's first task."""

    item_id: str
    index: int
    task: ThoughtTask


def text_delta_event(item_id: str, content_index: int, delta: str) -> ThreadItemUpdatedEvent:
    return ThreadItemUpdatedEvent(
        item_id=item_id,
        update=AssistantMessageContentPartTextDelta(content_index=content_index, delta=delta),
    )


@dataclass(slots=True)
class _PendingDelta:
    """Text deltas of one content part read together, not sent yet."""

    item_id: str
    content_index: int
    parts: list[str]

    def events(self) -> list[ThreadItemUpdatedEvent]:
        """One event for a run of ``COALESCE_MIN`` deltas or more, else one per delta."""
        texts = ["".join(self.parts)] if len(self.parts) >= COALESCE_MIN else self.parts
        return [text_delta_event(self.item_id, self.content_index, text) for text in texts]


async def stream_run(
    context: AgentContext[Any],
    result: RunResultStreaming,
    *,
    converter: ResponseStreamConverter = DEFAULT_CONVERTER,
    coalesce: bool = True,
    recent_items: Sequence[ThreadItem] | None = None,
    hosted_tasks: HostedToolTasks | None = None,
) -> AsyncIterator[ThreadStreamEvent]:
    """The ChatKit events of ``result``, a run started with ``context`` as its context.

    ``hosted_tasks`` adds workflow tasks for hosted tool calls (``responder/tool_activity.py``;
    the SDK shows none).

    Raises what the run raises (``stream_events``), after the events that undo a guardrail
    trip; see the module docstring.
    """
    queue = sdk_compat.run_event_queue(result)
    sdk_compat.route_context_events(context, queue)
    run = _RunConverter(context, converter)
    run.hosted_tasks = hosted_tasks
    await run.continue_workflow(recent_items)
    pending: _PendingDelta | None = None
    try:
        async for event in result.stream_events():
            data = getattr(event, "data", None) if event.type == "raw_response_event" else None
            if (
                coalesce
                and data is not None
                and data.type == "response.output_text.delta"
                and type(data.delta) is str
            ):
                if (
                    pending is not None
                    and pending.item_id == data.item_id
                    and pending.content_index == data.content_index
                ):
                    pending.parts.append(data.delta)
                else:
                    if pending is not None:
                        for delta in pending.events():
                            yield delta
                    pending = _PendingDelta(data.item_id, data.content_index, [data.delta])
                if queue.empty():
                    for delta in pending.events():
                        yield delta
                    pending = None
                continue
            converted = run.convert(event)
            if converted is None:
                continue
            async for thread_event in converted:
                if pending is not None:
                    for delta in pending.events():
                        yield delta
                    pending = None
                yield thread_event
        if pending is not None:
            for delta in pending.events():
                yield delta
            pending = None
    except (InputGuardrailTripwireTriggered, OutputGuardrailTripwireTriggered):
        if pending is not None:
            for delta in pending.events():
                yield delta
        for item_id in run.produced_items:
            yield ThreadItemRemovedEvent(item_id=item_id)
        raise
    async for thread_event in run.finish():
        yield thread_event


class _RunConverter:
    """``stream_agent_response``'s state and rules, one event at a time."""

    def __init__(self, context: AgentContext[Any], converter: ResponseStreamConverter) -> None:
        self.context = context
        self.converter = converter
        self.thread = context.thread
        self.produced_items: dict[str, None] = {}
        """Items shown so far, in order (a guardrail trip removes them)."""
        self.current_item_id: str | None = None
        self.current_tool_call: str | None = None
        self.thought: _Thought | None = None
        self.hosted_tasks: HostedToolTasks | None = None
        # item id -> content index -> annotations sent
        self.annotation_counts: defaultdict[str, defaultdict[int, int]] = defaultdict(
            lambda: defaultdict(int)
        )

    async def continue_workflow(self, recent_items: Sequence[ThreadItem] | None) -> None:
        """A workflow the thread's last item (or the one before a client tool call) left open
        goes on in this run."""
        if recent_items is None:
            page = await self.context.store.load_thread_items(
                self.thread.id, None, 2, "desc", self.context.request_context
            )
            recent_items = page.data
        last = recent_items[0] if len(recent_items) > 0 else None
        second_last = recent_items[1] if len(recent_items) > 1 else None
        if last and last.type == "workflow":
            self.context.workflow_item = last
        elif (
            last
            and last.type == "client_tool_call"
            and second_last
            and second_last.type == "workflow"
        ):
            self.context.workflow_item = second_last

    def _produced(self, item_id: str) -> None:
        self.produced_items[item_id] = None

    def end_workflow(self, item: WorkflowItem) -> ThreadItemDoneEvent:
        if item == self.context.workflow_item:
            self.context.workflow_item = None
        duration = int((datetime.now() - item.created_at).total_seconds())
        if item.workflow.summary is None:
            item.workflow.summary = DurationSummary(duration=duration)
        # Closed by default; a workflow kept open ends through AgentContext.end_workflow.
        item.workflow.expanded = False
        return ThreadItemDoneEvent(item=item)

    def convert(self, event: Any) -> AsyncIterator[ThreadStreamEvent] | None:
        """The events for one queued event (None when it gives none)."""
        if isinstance(event, BaseModel):  # a ChatKit event a tool streamed
            return self._context_event(event)  # type: ignore[arg-type]
        kind = event.type
        if kind == "run_item_stream_event":
            item = event.item
            if item.type == "tool_call_item":
                self.current_tool_call, self.current_item_id = _function_call_metadata(
                    item.raw_item
                )
                if self.current_tool_call:
                    assert self.current_item_id
                    self._produced(self.current_item_id)
            return None
        if kind != "raw_response_event":
            return None
        return self._raw(event.data)

    async def _context_event(self, event: ThreadStreamEvent) -> AsyncIterator[ThreadStreamEvent]:
        ctx = self.context
        if event.type == "thread.item.added" or event.type == "thread.item.done":
            # A visible item after an open workflow ends it.
            if (
                ctx.workflow_item
                and ctx.workflow_item.id != event.item.id
                and event.item.type != "client_tool_call"
                and event.item.type != "hidden_context_item"
            ):
                yield self.end_workflow(ctx.workflow_item)
            if event.type == "thread.item.added" and isinstance(event.item, WorkflowItem):
                # The tool's live item, and not one the tool ended meanwhile (the events
                # are snapshots read later; see responder/snapshots.py).
                ctx.workflow_item = adopted_workflow(ctx, event.item)
            # Removed again if a guardrail trips.
            self._produced(event.item.id)
        yield event

    async def _raw(self, event: Any) -> AsyncIterator[ThreadStreamEvent]:
        ctx, converter, thread = self.context, self.converter, self.thread
        kind = event.type
        if self.hosted_tasks is not None and kind in HOSTED_ITEM_EVENTS:
            async for shown in self.hosted_tasks.events(ctx, event, self.produced_items):
                yield shown
        if kind == "response.content_part.added":
            if event.part.type == "reasoning_text":
                return
            content = await _convert_content(event.part, converter)
            yield ThreadItemUpdatedEvent(
                item_id=event.item_id,
                update=AssistantMessageContentPartAdded(
                    content_index=event.content_index, content=content
                ),
            )
        elif kind == "response.output_text.delta":
            yield text_delta_event(event.item_id, event.content_index, event.delta)
        elif kind == "response.output_text.done":
            yield ThreadItemUpdatedEvent(
                item_id=event.item_id,
                update=AssistantMessageContentPartDone(
                    content_index=event.content_index,
                    content=AssistantMessageContent(text=event.text, annotations=[]),
                ),
            )
        elif kind == "response.output_text.annotation.added":
            annotation = await _convert_annotation(event.annotation, converter)
            if annotation:
                # Counted per content part: an annotation that cannot be converted is skipped.
                counts = self.annotation_counts[event.item_id]
                annotation_index = counts[event.content_index]
                counts[event.content_index] = annotation_index + 1
                yield ThreadItemUpdatedEvent(
                    item_id=event.item_id,
                    update=AssistantMessageContentPartAnnotationAdded(
                        content_index=event.content_index,
                        annotation_index=annotation_index,
                        annotation=annotation,
                    ),
                )
        elif kind == "response.output_item.added":
            item = event.item
            if item.type == "reasoning" and not ctx.workflow_item:
                ctx.workflow_item = WorkflowItem(
                    id=ctx.generate_id("workflow"),
                    created_at=datetime.now(),
                    workflow=Workflow(type="reasoning", tasks=[]),
                    thread_id=thread.id,
                )
                self._produced(ctx.workflow_item.id)
                yield ThreadItemAddedEvent(item=ctx.workflow_item)
            if item.type == "message":
                if ctx.workflow_item:
                    yield self.end_workflow(ctx.workflow_item)
                self._produced(item.id)
                yield ThreadItemAddedEvent(
                    item=AssistantMessageItem(
                        id=item.id,  # the Responses message id (the responder renames it)
                        thread_id=thread.id,
                        content=[await _convert_content(c, converter) for c in item.content],
                        created_at=datetime.now(),
                    ),
                )
            elif item.type == "image_generation_call":
                ctx.generated_image_item = GeneratedImageItem(
                    id=ctx.generate_id("message"),
                    thread_id=thread.id,
                    created_at=datetime.now(),
                    image=None,
                )
                self._produced(ctx.generated_image_item.id)
                yield ThreadItemAddedEvent(item=ctx.generated_image_item)
        elif kind == "response.image_generation_call.partial_image":
            if not ctx.generated_image_item:
                return
            url = await converter.base64_image_to_url(
                image_id=event.item_id,
                base64_image=event.partial_image_b64,
                partial_image_index=event.partial_image_index,
            )
            progress = converter.partial_image_index_to_progress(event.partial_image_index)
            ctx.generated_image_item.image = GeneratedImage(id=event.item_id, url=url)
            yield ThreadItemUpdatedEvent(
                item_id=ctx.generated_image_item.id,
                update=GeneratedImageUpdated(
                    image=ctx.generated_image_item.image, progress=progress
                ),
            )
        elif kind == "response.reasoning_summary_text.delta":
            if not ctx.workflow_item:
                return
            tasks = ctx.workflow_item.workflow.tasks
            # The first thought streams into a new workflow, to show it early.
            if ctx.workflow_item.workflow.type == "reasoning" and len(tasks) == 0:
                self.thought = _Thought(
                    item_id=event.item_id,
                    index=event.summary_index,
                    task=ThoughtTask(content=event.delta),
                )
                tasks.append(self.thought.task)
                yield ThreadItemUpdatedEvent(
                    item_id=ctx.workflow_item.id,
                    update=WorkflowTaskAdded(task=self.thought.task, task_index=0),
                )
            elif (
                self.thought
                and self.thought.task in tasks
                and event.item_id == self.thought.item_id
                and event.summary_index == self.thought.index
            ):
                self.thought.task.content += event.delta
                yield ThreadItemUpdatedEvent(
                    item_id=ctx.workflow_item.id,
                    update=WorkflowTaskUpdated(
                        task=self.thought.task, task_index=tasks.index(self.thought.task)
                    ),
                )
        elif kind == "response.reasoning_summary_text.done":
            if ctx.workflow_item:
                tasks = ctx.workflow_item.workflow.tasks
                update: WorkflowTaskUpdated | WorkflowTaskAdded
                if (
                    self.thought
                    and self.thought.task in tasks
                    and event.item_id == self.thought.item_id
                    and event.summary_index == self.thought.index
                ):
                    task = self.thought.task
                    task.content = event.text
                    self.thought = None
                    update = WorkflowTaskUpdated(task=task, task_index=tasks.index(task))
                else:
                    task = ThoughtTask(content=event.text)
                    tasks.append(task)
                    update = WorkflowTaskAdded(task=task, task_index=tasks.index(task))
                yield ThreadItemUpdatedEvent(item_id=ctx.workflow_item.id, update=update)
        elif kind == "response.output_item.done":
            item = event.item
            if item.type == "message":
                self._produced(item.id)
                yield ThreadItemDoneEvent(
                    item=AssistantMessageItem(
                        id=item.id,
                        thread_id=thread.id,
                        content=[await _convert_content(c, converter) for c in item.content],
                        created_at=datetime.now(),
                    ),
                )
            elif item.type == "image_generation_call" and item.result:
                if not ctx.generated_image_item:
                    return
                url = await converter.base64_image_to_url(
                    image_id=item.id, base64_image=item.result
                )
                image = GeneratedImage(id=item.id, url=url)
                ctx.generated_image_item.image = image
                yield ThreadItemDoneEvent(item=ctx.generated_image_item)
                ctx.generated_image_item = None

    async def finish(self) -> AsyncIterator[ThreadStreamEvent]:
        """After the run: keep an open workflow for the next run, end a client tool call."""
        ctx, thread = self.context, self.thread
        if ctx.workflow_item:
            await ctx.store.add_thread_item(thread.id, ctx.workflow_item, ctx.request_context)
        if ctx.client_tool_call:
            yield ThreadItemDoneEvent(
                item=ClientToolCallItem(
                    id=self.current_item_id
                    or ctx.store.generate_item_id("tool_call", thread, ctx.request_context),
                    thread_id=thread.id,
                    name=ctx.client_tool_call.name,
                    arguments=ctx.client_tool_call.arguments,
                    created_at=datetime.now(),
                    call_id=self.current_tool_call
                    or ctx.store.generate_item_id("tool_call", thread, ctx.request_context),
                ),
            )


async def _convert_content(
    content: Any, converter: ResponseStreamConverter
) -> AssistantMessageContent:
    if content.type == "output_text":
        annotations = [
            await _convert_annotation(annotation, converter) for annotation in content.annotations
        ]
        return AssistantMessageContent(
            text=content.text, annotations=[a for a in annotations if a is not None]
        )
    return AssistantMessageContent(text=content.refusal, annotations=[])


async def _convert_annotation(
    raw_annotation: object, converter: ResponseStreamConverter
) -> Annotation | None:
    # The client sometimes parses an annotation into the wrong class (or a dict): re-read it.
    # The ``annotation.added`` event's own classes are not the message's: read their fields.
    if isinstance(raw_annotation, BaseModel):
        raw_annotation = raw_annotation.model_dump()
    annotation = _ANNOTATION.validate_python(raw_annotation)
    if annotation.type == "file_citation":
        return await converter.file_citation_to_annotation(annotation)
    if annotation.type == "url_citation":
        return await converter.url_citation_to_annotation(annotation)
    if annotation.type == "container_file_citation":
        return await converter.container_file_citation_to_annotation(annotation)
    return None


def _function_call_metadata(raw_item: object) -> tuple[str | None, str | None]:
    """(call id, item id) of a function call item, raw dict or model."""
    if isinstance(raw_item, dict):
        if raw_item.get("type") != "function_call":
            return None, None
        call_id = raw_item.get("call_id")
        item_id = raw_item.get("id")
        return (
            call_id if isinstance(call_id, str) else None,
            item_id if isinstance(item_id, str) else None,
        )
    if isinstance(raw_item, ResponseFunctionToolCall):
        return raw_item.call_id, raw_item.id
    return None, None
