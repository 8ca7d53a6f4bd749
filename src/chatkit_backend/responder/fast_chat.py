"""``FastChatCompletionsModel``: the Agents SDK's Chat Completions model, at the cost of the wire.

The SDK's ``OpenAIChatCompletionsModel`` gets an object per chunk from the ``openai``
client (``construct_type``, ~150 µs) and turns it into Responses events in
``ChatCmplStreamHandler`` (~30 µs more, mostly failed ``hasattr`` lookups). This subclass
reads the same HTTP response through ``wire.stream_batches`` and turns plain text chunks
into the very events the SDK would yield, built from the JSON directly (a few µs); the
text of ``MERGE_MIN`` or more plain chunks that arrived together (one network read) goes
out as one delta event, where the SDK makes one per chunk (``merge_ready_deltas``: the
same text, one trip through the Agents SDK's run loop instead of one per chunk).

Only chunks whose meaning is plain text (content, a role, a ``stop``, usage) take that
path. At the first other chunk (tool calls, reasoning, refusals, logprobs, annotations,
any provider field, a ``length`` or ``content_filter`` stop), and at an end the SDK would
refuse, ``ChatStreamHandler`` hands the stream to the SDK's ``ChatCmplStreamHandler``:
it replays every chunk so far, as the client's objects, into it and passes its events on
from where the fast path stopped. So the events are the SDK's own, event for event
(``tests/responder/test_fast_models.py`` runs both on the same recorded streams: the
same events, merged deltas aside).
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from agents import ModelBehaviorError, ModelSettings, ModelTracing, OpenAIChatCompletionsModel
from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import TResponseInputItem, TResponseStreamEvent
from agents.models.chatcmpl_helpers import ChatCmplHelpers
from agents.models.chatcmpl_stream_handler import ChatCmplStreamHandler
from agents.models.fake_id import FAKE_RESPONSES_ID
from agents.tool import Tool
from openai import AsyncStream
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
)
from openai.types.responses.response_prompt_param import ResponsePromptParam

from chatkit_backend import sdk_compat
from chatkit_backend.responder import wire
from chatkit_backend.responder.fast_models import MERGE_MIN, Cloner

_TEXT_DELTA = Cloner(
    ResponseTextDeltaEvent,
    content_index=0,
    delta="",
    item_id=FAKE_RESPONSES_ID,
    output_index=0,
    type="response.output_text.delta",
    sequence_number=0,
    logprobs=[],
)
# Fields of a chunk's ``delta`` that, when empty, change nothing in the SDK's handler.
_PLAIN_DELTA_FIELDS = frozenset({"content", "role", "refusal", "tool_calls", "function_call"})
_PLAIN_FINISH_REASONS = (None, "stop")


class FastChatCompletionsModel(OpenAIChatCompletionsModel):
    """``OpenAIChatCompletionsModel`` whose streams skip the client's per-chunk objects."""

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: ResponsePromptParam | None = None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        """The SDK's ``stream_response``, step for step, with ``ChatStreamHandler``."""
        buffer_tool_calls, strict, client = sdk_compat.chat_completions_stream_setup(self)
        if buffer_tool_calls or model_settings.preserve_raw_usage is True:
            async for event in super().stream_response(
                system_instructions,
                input,
                model_settings,
                tools,
                output_schema,
                handoffs,
                tracing,
                previous_response_id=previous_response_id,
                conversation_id=conversation_id,
                prompt=prompt,
            ):
                yield event
            return
        sdk_compat.check_chat_completions_request(
            self, previous_response_id, conversation_id, prompt
        )
        with sdk_compat.chat_generation_span(self, model_settings, tracing) as span:
            response, stream = await sdk_compat.fetch_chat_completions_stream(
                self,
                system_instructions,
                input,
                model_settings,
                tools,
                output_schema,
                handoffs,
                span,
                tracing,
                stream=True,
                prompt=None,
            )
            sdk_compat.attach_stream_request_id(self, response, stream)
            handler = ChatStreamHandler(
                model=self.model,
                strict_feature_validation=strict,
                require_finish_reason=ChatCmplHelpers.is_openai(client),
            )
            close_in_background = False
            yielded_terminal_event = False
            try:
                async for event in handler.handle_stream(response, stream):
                    if event.type == "response.completed":
                        yielded_terminal_event = True
                        sdk_compat.populate_stream_span(self, span, event.response, tracing)
                    yield event
            except ModelBehaviorError:
                sdk_compat.populate_stream_span(self, span, response, tracing)
                raise
            except asyncio.CancelledError:
                close_in_background = True
                sdk_compat.schedule_model_stream_close(self, stream)
                raise
            finally:
                if not close_in_background:
                    try:
                        await sdk_compat.close_model_stream(self, stream)
                    except Exception:
                        if not yielded_terminal_event:
                            raise


class ChatStreamHandler:
    """Chat Completions chunks to Responses events, as ``ChatCmplStreamHandler.handle_stream``
    (with ``raise_on_length_truncation``) yields them; see the module docstring.

    With ``merge_ready_deltas`` (the default), the text of ``MERGE_MIN`` or more
    consecutive plain chunks that one network read brought together goes out as one
    delta event (the SDK makes one per chunk): the same text, and one trip through the
    run loop instead of many. Fewer go out one event per chunk, as they came.
    """

    def __init__(
        self,
        *,
        model: str | None,
        strict_feature_validation: bool,
        require_finish_reason: bool,
        merge_ready_deltas: bool = True,
    ) -> None:
        self.model = model
        self.strict_feature_validation = strict_feature_validation
        self.require_finish_reason = require_finish_reason
        self.merge_ready_deltas = merge_ready_deltas
        self._sequence = 0
        self._started = False
        self._usage: Any = None
        self._saw_finish_reason = False
        self._provider_data: dict[str, Any] = {}
        self._text: list[str] | None = None
        self._pending: list[str] = []
        """Text of plain chunks read but not sent yet (one delta event when sent)."""

    async def handle_stream(
        self, response: Response, stream: Any
    ) -> AsyncIterator[TResponseStreamEvent]:
        """The events for ``stream`` (the client's ``AsyncStream``, or any chunk iterator)."""
        if not isinstance(stream, AsyncStream):
            async for event in self._sdk_handler(response, stream):
                yield event
            return
        build = wire.build_like_client(stream)
        batches = wire.stream_batches(stream)
        seen: list[Any] = []
        emitted = 0  # the SDK handler's events sent so far (a merged delta counts its parts)
        merge = self.merge_ready_deltas
        try:
            async for batch in batches:
                for index, (_name, chunk) in enumerate(batch):
                    seen.append(chunk)
                    events = self._plain_chunk(chunk, build, response)
                    if events is None:
                        emitted += len(self._pending)
                        for event in self._deltas():
                            yield event
                        rest = _items(batch[index + 1 :], batches)
                        async for event in self._replay(response, seen, rest, build, emitted):
                            yield event
                        return
                    for event in events:
                        emitted += 1
                        yield event
                    if self._pending and not merge:
                        emitted += 1
                        for event in self._deltas():
                            yield event
                emitted += len(self._pending)
                for event in self._deltas():
                    yield event
            if self.require_finish_reason and not self._saw_finish_reason:
                async for event in self._replay(response, seen, _empty(), build, emitted):
                    yield event
                return
            for event in self._finish(response):
                yield event
        finally:
            await batches.aclose()

    def _deltas(self) -> list[ResponseTextDeltaEvent]:
        """The delta events for the text read since the last ones: one for ``MERGE_MIN``
        chunks or more, else one per chunk."""
        pending = self._pending
        if not pending:
            return []
        self._pending = []
        texts = ["".join(pending)] if len(pending) >= MERGE_MIN else pending
        return [
            _TEXT_DELTA.make(delta=text, sequence_number=self._next(), logprobs=[])
            for text in texts
        ]

    def _sdk_handler(self, response: Response, chunks: Any) -> AsyncIterator[TResponseStreamEvent]:
        return ChatCmplStreamHandler.handle_stream(
            response,
            chunks,
            model=self.model,
            strict_feature_validation=self.strict_feature_validation,
            raise_on_length_truncation=True,
            require_finish_reason=self.require_finish_reason,
        )

    async def _replay(
        self,
        response: Response,
        seen: list[Any],
        rest: AsyncIterator[wire.Payload],
        build: Any,
        skip: int,
    ) -> AsyncIterator[TResponseStreamEvent]:
        """The SDK handler's events over every chunk, after the ``skip`` already sent."""

        async def chunks() -> AsyncIterator[Any]:
            for payload in seen:
                yield build(payload)
            async for _name, payload in rest:
                yield build(payload)

        async for event in self._sdk_handler(response, chunks()):
            if skip:
                skip -= 1
                continue
            yield event

    def _next(self) -> int:
        number = self._sequence
        self._sequence += 1
        return number

    def _plain_chunk(
        self, chunk: Any, build: Any, response: Response
    ) -> list[TResponseStreamEvent] | None:
        """The SDK's events for a plain chunk, or None (and no change) for any other."""
        if type(chunk) is not dict:
            return None
        choices = chunk.get("choices")
        choice: dict[str, Any] | None = None
        if choices:
            if type(choices) is not list or len(choices) != 1:
                return None
            choice = choices[0]
            if type(choice) is not dict or not _is_plain_choice(choice):
                return None
        elif choices is None or type(choices) is not list:
            return None
        chunk_id = chunk.get("id")
        if chunk_id is not None and type(chunk_id) is not str:
            return None
        events: list[TResponseStreamEvent] = []
        if not self._started:
            self._started = True
            events.append(
                ResponseCreatedEvent(
                    response=response, type="response.created", sequence_number=self._next()
                )
            )
        if chunk.get("usage") is not None:
            self._usage = build(chunk).usage
        if choice is None:
            return events
        if choice.get("finish_reason") is not None:
            self._saw_finish_reason = True
        provider_data = self._provider_data
        if self.model:
            provider_data["model"] = self.model
        elif chunk.get("model"):
            provider_data["model"] = chunk["model"]
        if chunk_id:
            provider_data["response_id"] = chunk_id
        content = choice["delta"].get("content")
        if content is None or (self._text is None and content == ""):
            return events
        if self._text is None:
            self._text = []
            item = ResponseOutputMessage(
                id=FAKE_RESPONSES_ID,
                content=[],
                role="assistant",
                type="message",
                status="in_progress",
            )
            if provider_data:
                item.provider_data = provider_data.copy()  # type: ignore[attr-defined]
            events.append(
                ResponseOutputItemAddedEvent(
                    item=item,
                    output_index=0,
                    type="response.output_item.added",
                    sequence_number=self._next(),
                )
            )
            events.append(
                ResponseContentPartAddedEvent(
                    content_index=0,
                    item_id=FAKE_RESPONSES_ID,
                    output_index=0,
                    part=_empty_text(),
                    type="response.content_part.added",
                    sequence_number=self._next(),
                )
            )
        self._pending.append(content)  # sent by ``handle_stream`` (``_delta``)
        self._text.append(content)
        return events

    def _finish(self, response: Response) -> list[TResponseStreamEvent]:
        """The SDK's closing events for a stream of plain chunks."""
        events: list[TResponseStreamEvent] = []
        outputs: list[Any] = []
        if self._text is not None:
            part = _empty_text()
            part.text = "".join(self._text)
            events.append(
                ResponseContentPartDoneEvent(
                    content_index=0,
                    item_id=FAKE_RESPONSES_ID,
                    output_index=0,
                    part=part,
                    type="response.content_part.done",
                    sequence_number=self._next(),
                )
            )
            message = ResponseOutputMessage(
                id=FAKE_RESPONSES_ID,
                content=[],
                role="assistant",
                type="message",
                status="completed",
            )
            if self._provider_data:
                message.provider_data = self._provider_data.copy()  # type: ignore[attr-defined]
            message.content.append(part)
            outputs.append(message)
            events.append(
                ResponseOutputItemDoneEvent(
                    item=message,
                    output_index=0,
                    type="response.output_item.done",
                    sequence_number=self._next(),
                )
            )
        final = response.model_copy()
        final.output = outputs
        final.usage = sdk_compat.chat_response_usage(self._usage)
        if self._usage is None:
            sdk_compat.mark_request_completed_without_usage(final)
        events.append(
            ResponseCompletedEvent(
                response=final, type="response.completed", sequence_number=self._next()
            )
        )
        return events


async def _items(
    first: list[wire.Payload], batches: AsyncIterator[list[wire.Payload]]
) -> AsyncIterator[wire.Payload]:
    """The items of ``first``, then those of the batches still to come."""
    for item in first:
        yield item
    async for batch in batches:
        for item in batch:
            yield item


async def _empty() -> AsyncIterator[wire.Payload]:
    return
    yield  # an async generator with no item


def _empty_text() -> ResponseOutputText:
    return ResponseOutputText(text="", type="output_text", annotations=[], logprobs=[])


def _is_plain_choice(choice: dict[str, Any]) -> bool:
    """Choice 0 carrying only text (or nothing), no logprobs, going on or stopping normally."""
    delta = choice.get("delta")
    if (  # the most frequent chunk: one more piece of text
        type(delta) is dict
        and len(delta) == 1
        and type(delta.get("content")) is str
        and choice.get("finish_reason") is None
        and choice.get("logprobs") is None
        and type(choice.get("index")) is int
        and choice["index"] == 0
    ):
        return True
    index = choice.get("index")
    if type(index) is not int or index != 0:
        return False
    if (
        choice.get("logprobs") is not None
        or choice.get("finish_reason") not in _PLAIN_FINISH_REASONS
    ):
        return False
    delta = choice.get("delta")
    if type(delta) is not dict or not _PLAIN_DELTA_FIELDS.issuperset(delta):
        return False
    content = delta.get("content")
    if content is not None and type(content) is not str:
        return False
    role = delta.get("role")
    return (
        (role is None or type(role) is str)
        and not delta.get("refusal")
        and not delta.get("tool_calls")
        and delta.get("function_call") is None
    )
