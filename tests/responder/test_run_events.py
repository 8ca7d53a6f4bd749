"""``stream_run`` gives the ChatKit events ``stream_agent_response`` gives, run for run.

Recorded Agents SDK event sequences (text, annotations, refusals, reasoning, image
generation, tool calls, client tool calls, handoffs, guardrail trips, errors) are fed to
both; so are real runs of the offline model with tools that stream through the
``AgentContext``. Store-made ids and timestamps are normalized before comparing.
"""

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from agents import (
    Agent,
    GuardrailFunctionOutput,
    InputGuardrail,
    InputGuardrailTripwireTriggered,
    RunConfig,
    RunContextWrapper,
    Runner,
    function_tool,
)
from agents.guardrail import InputGuardrailResult
from agents.items import HandoffCallItem, MessageOutputItem, ToolCallItem
from agents.stream_events import (
    AgentUpdatedStreamEvent,
    RawResponsesStreamEvent,
    RunItemStreamEvent,
)
from chatkit.agents import AgentContext, ClientToolCall, stream_agent_response
from chatkit.types import (
    ProgressUpdateEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    Workflow,
    WorkflowItem,
)
from openai.types.responses import (
    ResponseContentPartAddedEvent,
    ResponseFunctionToolCall,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputRefusal,
    ResponseOutputText,
    ResponseOutputTextAnnotationAddedEvent,
    ResponseReasoningItem,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseReasoningSummaryTextDoneEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from openai.types.responses.response_image_gen_call_partial_image_event import (
    ResponseImageGenCallPartialImageEvent,
)
from openai.types.responses.response_output_item import ImageGenerationCall

from chatkit_backend.context import RequestContext
from chatkit_backend.responder.offline import OfflineModel
from chatkit_backend.responder.run_events import COALESCE_MIN, stream_run
from chatkit_backend.stores import MemoryStore

AGENT = Agent(name="Recorded")
_END = object()


class RecordedRun:
    """Stands in for ``RunResultStreaming``: ``stream_events`` reads its queue (the recorded
    events) as the SDK's does, then raises the recorded error, if any."""

    def __init__(self, events: list[Any], error: BaseException | None = None) -> None:
        self._event_queue: asyncio.Queue[Any] = asyncio.Queue()
        for event in events:
            self._event_queue.put_nowait(event)
        self._event_queue.put_nowait(_END)
        self.error = error
        self.is_complete = False

    async def stream_events(self) -> AsyncIterator[Any]:
        while True:
            item = await self._event_queue.get()
            if item is _END:
                break
            yield item
        self.is_complete = True
        if self.error is not None:
            raise self.error


def raw(event: Any) -> RawResponsesStreamEvent:
    return RawResponsesStreamEvent(data=event)


def message(status: Any, parts: list[Any]) -> ResponseOutputMessage:
    return ResponseOutputMessage(
        id="msg_1", content=parts, role="assistant", status=status, type="message"
    )


def text_events(words: list[str]) -> list[Any]:
    where: dict[str, Any] = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    text = "".join(words)
    part = ResponseOutputText(type="output_text", text=text, annotations=[])
    return [
        raw(ResponseOutputItemAddedEvent(type="response.output_item.added", item=message("in_progress", []), output_index=0, sequence_number=1)),
        raw(ResponseContentPartAddedEvent(type="response.content_part.added", part=ResponseOutputText(type="output_text", text="", annotations=[]), sequence_number=2, **where)),
        *[
            raw(ResponseTextDeltaEvent(type="response.output_text.delta", delta=word, logprobs=[], sequence_number=3 + n, **where))
            for n, word in enumerate(words)
        ],
        raw(ResponseTextDoneEvent(type="response.output_text.done", text=text, logprobs=[], sequence_number=90, **where)),
        raw(ResponseOutputItemDoneEvent(type="response.output_item.done", item=message("completed", [part]), output_index=0, sequence_number=91)),
        RunItemStreamEvent(name="message_output_created", item=MessageOutputItem(agent=AGENT, raw_item=message("completed", [part]))),
    ]  # fmt: skip


def tool_call_event() -> RunItemStreamEvent:
    call = ResponseFunctionToolCall(
        type="function_call", call_id="call_1", name="lookup", arguments="{}", id="fc_1"
    )
    return RunItemStreamEvent(name="tool_called", item=ToolCallItem(agent=AGENT, raw_item=call))


def reasoning_events() -> list[Any]:
    reasoning = ResponseReasoningItem(id="rs_1", type="reasoning", summary=[])
    where: dict[str, Any] = {"item_id": "rs_1", "output_index": 0, "summary_index": 0}
    return [
        raw(ResponseOutputItemAddedEvent(type="response.output_item.added", item=reasoning, output_index=0, sequence_number=0)),
        raw(ResponseReasoningSummaryTextDeltaEvent(type="response.reasoning_summary_text.delta", delta="Think", sequence_number=1, **where)),
        raw(ResponseReasoningSummaryTextDeltaEvent(type="response.reasoning_summary_text.delta", delta="ing", sequence_number=2, **where)),
        raw(ResponseReasoningSummaryTextDoneEvent(type="response.reasoning_summary_text.done", text="Thinking", sequence_number=3, **where)),
        raw(ResponseReasoningSummaryTextDoneEvent(type="response.reasoning_summary_text.done", text="Second", sequence_number=4, item_id="rs_1", output_index=0, summary_index=1)),
    ]  # fmt: skip


def annotation_events() -> list[Any]:
    # Annotations as dicts (as the client sometimes leaves them): the SDK cannot read the
    # event's own annotation classes, which ``stream_run`` can (test_tool_activity.py).
    where: dict[str, Any] = {"item_id": "msg_1", "output_index": 0, "content_index": 0}

    def added(**fields: Any) -> ResponseOutputTextAnnotationAddedEvent:
        event = ResponseOutputTextAnnotationAddedEvent(**fields)
        event.__dict__["annotation"] = fields["annotation"]
        return event

    return [
        raw(added(type="response.output_text.annotation.added", annotation_index=0, annotation={"type": "url_citation", "url": "https://example.com", "title": "Ex", "start_index": 0, "end_index": 4}, sequence_number=5, **where)),
        raw(added(type="response.output_text.annotation.added", annotation_index=1, annotation={"type": "file_citation", "file_id": "f", "filename": "", "index": 2}, sequence_number=6, **where)),
        raw(added(type="response.output_text.annotation.added", annotation_index=2, annotation={"type": "file_citation", "file_id": "f", "filename": "doc.pdf", "index": 3}, sequence_number=7, **where)),
    ]  # fmt: skip


def refusal_events() -> list[Any]:
    where: dict[str, Any] = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    refusal = ResponseOutputRefusal(type="refusal", refusal="No.")
    return [
        raw(ResponseOutputItemAddedEvent(type="response.output_item.added", item=message("in_progress", []), output_index=0, sequence_number=1)),
        raw(ResponseContentPartAddedEvent(type="response.content_part.added", part=ResponseOutputRefusal(type="refusal", refusal=""), sequence_number=2, **where)),
        raw(ResponseOutputItemDoneEvent(type="response.output_item.done", item=message("completed", [refusal]), output_index=0, sequence_number=3)),
    ]  # fmt: skip


def image_events() -> list[Any]:
    call = ImageGenerationCall(
        id="ig_1", type="image_generation_call", status="in_progress", result=None
    )
    done = ImageGenerationCall(
        id="ig_1", type="image_generation_call", status="completed", result="QUJD"
    )
    return [
        raw(ResponseOutputItemAddedEvent(type="response.output_item.added", item=call, output_index=0, sequence_number=0)),
        raw(ResponseImageGenCallPartialImageEvent(type="response.image_generation_call.partial_image", item_id="ig_1", output_index=0, partial_image_b64="QQ==", partial_image_index=0, sequence_number=1)),
        raw(ResponseOutputItemDoneEvent(type="response.output_item.done", item=done, output_index=0, sequence_number=2)),
    ]  # fmt: skip


def handoff_events() -> list[Any]:
    call = ResponseFunctionToolCall(
        type="function_call", call_id="call_h", name="transfer_to_b", arguments="{}"
    )
    return [
        RunItemStreamEvent(
            name="handoff_requested", item=HandoffCallItem(agent=AGENT, raw_item=call)
        ),
        AgentUpdatedStreamEvent(new_agent=Agent(name="B")),
    ]


def tripwire() -> InputGuardrailTripwireTriggered:
    def check(context: Any, agent: Any, input: Any) -> GuardrailFunctionOutput:
        return GuardrailFunctionOutput(output_info=None, tripwire_triggered=True)

    guardrail: InputGuardrail[Any] = InputGuardrail(guardrail_function=check)
    return InputGuardrailTripwireTriggered(
        InputGuardrailResult(
            guardrail=guardrail,
            output=GuardrailFunctionOutput(output_info=None, tripwire_triggered=True),
        )
    )


SEQUENCES: dict[str, tuple[list[Any], BaseException | None]] = {
    "text": (text_events(["Hello", " there", "."]), None),
    "text with annotations": (
        text_events(["See"])[:3] + annotation_events() + text_events(["See"])[3:],
        None,
    ),
    "refusal": (refusal_events(), None),
    "reasoning then text": (reasoning_events() + text_events(["Done"]), None),
    "image generation": (image_events(), None),
    "tool call then text": ([tool_call_event(), *text_events(["Result"])], None),
    "handoff": (handoff_events() + text_events(["From B"]), None),
    "guardrail trip": (reasoning_events()[:1] + text_events(["Par"])[:3], tripwire()),
    "error": (text_events(["Par", "tial"])[:4], RuntimeError("model failed")),
}


def normalized(events: list[Any]) -> list[Any]:
    """Event dumps with store-made ids as their order of appearance, and no timestamps."""
    dumps = [re.sub(r'"created_at":"[^"]*",?', "", event.model_dump_json()) for event in events]
    ids: dict[str, str] = {}

    def rename(match: re.Match[str]) -> str:
        return ids.setdefault(match.group(0), f"id{len(ids)}")

    return [re.sub(r"\b[a-z]+(?:_[a-z]+)*_[0-9a-f]{8,}\b", rename, dump) for dump in dumps]


async def run_both(
    events: list[Any], error: BaseException | None, **context_fields: Any
) -> tuple[tuple[list[Any], str | None], tuple[list[Any], str | None]]:
    outcomes = []
    for convert in ("sdk", "ours"):
        store = MemoryStore()
        thread = ThreadMetadata(id="thr_1", created_at=datetime.now())
        context: AgentContext[Any] = AgentContext(
            thread=thread,
            store=store,
            request_context=RequestContext(user_id="u"),
            **context_fields,
        )
        run = RecordedRun(list(events), error)
        source = (
            stream_agent_response(context, run)  # type: ignore[arg-type]
            if convert == "sdk"
            else stream_run(context, run, coalesce=False)  # type: ignore[arg-type]
        )
        seen: list[Any] = []
        failure = None
        try:
            async for event in source:
                seen.append(event)
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"
        outcomes.append((normalized(seen), failure))
    return outcomes[0], outcomes[1]


@pytest.mark.parametrize("name", sorted(SEQUENCES))
async def test_recorded_runs_give_the_sdk_events(name: str) -> None:
    events, error = SEQUENCES[name]
    sdk, ours = await run_both(events, error)
    # The SDK removes what a guardrail trip undoes in a set's order (by hash): compare those
    # removals as a set.
    assert _removals_sorted(ours) == _removals_sorted(sdk)
    assert sdk[0] or sdk[1]


def _removals_sorted(outcome: tuple[list[Any], str | None]) -> tuple[list[Any], str | None]:
    events, failure = outcome
    kept = [event for event in events if '"thread.item.removed"' not in event]
    removed = sorted(event for event in events if '"thread.item.removed"' in event)
    return kept + removed, failure


async def test_a_client_tool_call_ends_the_reply_as_the_sdk_ends_it() -> None:
    sdk, ours = await run_both(
        [tool_call_event()], None, client_tool_call=ClientToolCall(name="pick", arguments={"a": 1})
    )
    assert ours == sdk
    assert '"type":"client_tool_call"' in sdk[0][-1]


async def test_an_open_workflow_goes_on_in_the_next_run() -> None:
    for recent in (None, "given"):
        store = MemoryStore()
        thread = ThreadMetadata(id="thr_1", created_at=datetime.now())
        context_ = RequestContext(user_id="u")
        await store.save_thread(thread, context_)
        workflow = WorkflowItem(
            id="wf_open",
            thread_id=thread.id,
            created_at=datetime.now(),
            workflow=Workflow(type="custom", tasks=[]),
        )
        await store.add_thread_item(thread.id, workflow, context_)
        context: AgentContext[Any] = AgentContext(
            thread=thread, store=store, request_context=context_
        )
        run = RecordedRun(text_events(["Hi"]))
        items = [workflow] if recent else None
        events = [event async for event in stream_run(context, run, recent_items=items)]  # type: ignore[arg-type]
        assert events[0].type == "thread.item.done" and events[0].item.id == "wf_open"


async def test_ready_deltas_go_out_as_one_event_with_the_same_text() -> None:
    words = [f"w{n} " for n in range(COALESCE_MIN + 5)]
    for coalesce, expected in ((True, 1), (False, len(words))):
        context: AgentContext[Any] = AgentContext(
            thread=ThreadMetadata(id="thr_1", created_at=datetime.now()),
            store=MemoryStore(),
            request_context=RequestContext(user_id="u"),
        )
        run: Any = RecordedRun(text_events(words))
        events = [e async for e in stream_run(context, run, coalesce=coalesce)]
        deltas = [
            e.update.delta
            for e in events
            if isinstance(e, ThreadItemUpdatedEvent)
            and e.update.type == "assistant_message.content_part.text_delta"
        ]
        assert len(deltas) == expected
        assert "".join(deltas) == "".join(words)


async def test_a_short_run_of_ready_deltas_goes_out_delta_by_delta() -> None:
    context: AgentContext[Any] = AgentContext(
        thread=ThreadMetadata(id="thr_1", created_at=datetime.now()),
        store=MemoryStore(),
        request_context=RequestContext(user_id="u"),
    )
    events = [e async for e in stream_run(context, RecordedRun(text_events(["a", "b", "c"])))]  # type: ignore[arg-type]
    deltas = [
        e.update.delta
        for e in events
        if isinstance(e, ThreadItemUpdatedEvent)
        and e.update.type == "assistant_message.content_part.text_delta"
    ]
    assert deltas == ["a", "b", "c"]


# -- real runs: tools streaming through the AgentContext --------------------------------
@function_tool
async def report_progress(ctx: RunContextWrapper[AgentContext[Any]], steps: int) -> str:
    """Stream progress, a workflow and its tasks while working."""
    from chatkit.types import CustomTask

    await ctx.context.stream(ProgressUpdateEvent(text="working"))
    await ctx.context.start_workflow(Workflow(type="custom", tasks=[]))
    for step in range(steps):
        await ctx.context.add_workflow_task(CustomTask(title=f"step {step}"))
    await ctx.context.end_workflow()
    return f"did {steps} steps"


async def real_run(convert: str) -> tuple[list[Any], str | None]:
    store = MemoryStore()
    thread = ThreadMetadata(id="thr_1", created_at=datetime.now())
    context: AgentContext[Any] = AgentContext(
        thread=thread, store=store, request_context=RequestContext(user_id="u")
    )
    agent = Agent(name="Tools", model=OfflineModel(0.0), tools=[report_progress])
    result = Runner.run_streamed(
        agent,
        '/tool report_progress {"steps": 3}',
        context=context,
        run_config=RunConfig(tracing_disabled=True),
    )
    source = (
        stream_agent_response(context, result)
        if convert == "sdk"
        else stream_run(context, result, coalesce=False)
    )
    events = [event async for event in source]
    return normalized(events), None


async def test_tools_streaming_through_the_context_give_the_sdk_events() -> None:
    sdk = await real_run("sdk")
    ours = await real_run("ours")
    assert ours == sdk
    assert any('"progress_update"' in event for event in sdk[0])
    assert any('"workflow"' in event for event in sdk[0])
