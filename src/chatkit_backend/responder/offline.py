"""``OfflineModel``: the built-in model, an Agents SDK ``Model`` that needs no network.

It streams a deterministic reply token by token. The reply says that it is offline and
how to configure a real model. ``/tool <name> {json}`` makes it call one of the agent's
function tools, and a tool result makes it report that result, so the whole path
(agent, tools, events, store) runs on a machine without a model. Tests and benchmarks
use it too.
"""

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from agents import (
    FunctionTool,
    Handoff,
    Model,
    ModelResponse,
    ModelSettings,
    ModelTracing,
    Tool,
    Usage,
)
from agents.agent_output import AgentOutputSchemaBase
from agents.items import TResponseInputItem, TResponseOutputItem, TResponseStreamEvent
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from openai.types.responses.response_prompt_param import ResponsePromptParam

from chatkit_backend.responder.context_items import is_context_text

MODEL_NAME = "offline"
TOOL_COMMAND = re.compile(r"^/tool\s+(?P<name>[A-Za-z0-9_.-]+)\s*(?P<args>.*)$", re.DOTALL)
HOW_TO_CONFIGURE = (
    "To get real answers, set CHATKIT_MODEL_API_KEY (or OPENAI_API_KEY) to use OpenAI, "
    "or CHATKIT_MODEL=openai-compatible:<model> with CHATKIT_MODEL_BASE_URL "
    "(for example http://127.0.0.1:11434/v1 for Ollama; vLLM, llama.cpp and LM Studio work "
    "the same way), then restart the server."
)


class OfflineModel(Model):
    """A deterministic, network-free model that streams its reply with ``token_delay``."""

    def __init__(self, token_delay: float = 0.02) -> None:
        self.token_delay = token_delay

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelResponse:
        output = plan_output(_as_items(input), tools)
        return ModelResponse(output=[output], usage=Usage(requests=1), response_id=None)

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        output = plan_output(_as_items(input), tools)
        events = _EventWriter()
        yield ResponseCreatedEvent(
            type="response.created",
            response=events.response([], "in_progress"),
            sequence_number=events.next(),
        )
        if isinstance(output, ResponseOutputMessage):
            async for event in self._stream_message(output, events):
                yield event
        else:
            for event in _function_call_events(output, events):
                yield event
        yield ResponseCompletedEvent(
            type="response.completed",
            response=events.response([output], "completed"),
            sequence_number=events.next(),
        )

    async def _stream_message(
        self, message: ResponseOutputMessage, events: "_EventWriter"
    ) -> AsyncIterator[TResponseStreamEvent]:
        text = message.content[0].text if isinstance(message.content[0], ResponseOutputText) else ""
        where: dict[str, Any] = {"item_id": message.id, "output_index": 0}
        yield ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            item=message.model_copy(update={"content": [], "status": "in_progress"}),
            output_index=0,
            sequence_number=events.next(),
        )
        yield ResponseContentPartAddedEvent(
            type="response.content_part.added",
            **where,
            content_index=0,
            part=ResponseOutputText(type="output_text", text="", annotations=[]),
            sequence_number=events.next(),
        )
        for token in split_tokens(text):
            # With no delay, still one token per turn of the event loop: each reaches the
            # client as an event of its own, as from a model streaming over the network.
            await asyncio.sleep(self.token_delay)
            yield ResponseTextDeltaEvent(
                type="response.output_text.delta",
                **where,
                content_index=0,
                delta=token,
                logprobs=[],
                sequence_number=events.next(),
            )
        yield ResponseTextDoneEvent(
            type="response.output_text.done",
            **where,
            content_index=0,
            text=text,
            logprobs=[],
            sequence_number=events.next(),
        )
        yield ResponseContentPartDoneEvent(
            type="response.content_part.done",
            **where,
            content_index=0,
            part=ResponseOutputText(type="output_text", text=text, annotations=[]),
            sequence_number=events.next(),
        )
        yield ResponseOutputItemDoneEvent(
            type="response.output_item.done",
            item=message,
            output_index=0,
            sequence_number=events.next(),
        )


class _EventWriter:
    """Numbers events and builds the ``Response`` envelopes of one offline reply."""

    def __init__(self) -> None:
        self.id = f"resp_offline_{uuid.uuid4().hex[:12]}"
        self._sequence = 0

    def next(self) -> int:
        self._sequence += 1
        return self._sequence - 1

    def response(self, output: list[TResponseOutputItem], status: str) -> Response:
        return Response.model_validate(
            {
                "id": self.id,
                "object": "response",
                "created_at": 0,
                "model": MODEL_NAME,
                "output": [item.model_dump() for item in output],
                "status": status,
                "parallel_tool_calls": False,
                "tool_choice": "auto",
                "tools": [],
                "usage": None,
            }
        )


def _function_call_events(
    call: ResponseFunctionToolCall, events: _EventWriter
) -> list[TResponseStreamEvent]:
    where: dict[str, Any] = {"item_id": call.id or call.call_id, "output_index": 0}
    return [
        ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            item=call.model_copy(update={"arguments": "", "status": "in_progress"}),
            output_index=0,
            sequence_number=events.next(),
        ),
        ResponseFunctionCallArgumentsDeltaEvent(
            type="response.function_call_arguments.delta",
            **where,
            delta=call.arguments,
            sequence_number=events.next(),
        ),
        ResponseFunctionCallArgumentsDoneEvent.model_validate(
            {
                "type": "response.function_call_arguments.done",
                **where,
                "arguments": call.arguments,
                "name": call.name,
                "sequence_number": events.next(),
            }
        ),
        ResponseOutputItemDoneEvent(
            type="response.output_item.done",
            item=call,
            output_index=0,
            sequence_number=events.next(),
        ),
    ]


# -- what to say ---------------------------------------------------------------------------
def plan_output(
    items: Sequence[Any], tools: Sequence[Tool]
) -> ResponseOutputMessage | ResponseFunctionToolCall:
    """Decide the reply: report a tool result, call a tool on ``/tool``, or explain."""
    function_tools = {tool.name: tool for tool in tools if isinstance(tool, FunctionTool)}
    last = items[-1] if items else None
    if _field(last, "type") == "function_call_output":
        return _message(_tool_result_text(items, last))
    text, extras = last_user_text(items)
    command = TOOL_COMMAND.match(text.strip())
    if command:
        name = command["name"]
        if name in function_tools:
            return ResponseFunctionToolCall(
                type="function_call",
                id=f"fc_offline_{uuid.uuid4().hex[:12]}",
                call_id=f"call_offline_{uuid.uuid4().hex[:12]}",
                name=name,
                arguments=_tool_arguments(command["args"]),
                status="completed",
            )
        return _message(f"There is no tool named `{name}`. {_tools_sentence(function_tools)}")
    return _message(offline_reply(text, extras, list(function_tools)))


def offline_reply(text: str, extras: list[str], tool_names: list[str]) -> str:
    """The canned answer: what was received, that this is offline, and how to configure."""
    quoted = " ".join(text.split())
    said = f"You wrote: “{quoted}”" if quoted else "You sent a message without text"
    if extras:
        said += f" (with {', '.join(extras)})"
    parts = [
        f"{said}.",
        "I am the offline model built into chatkit-backend: no language model is configured, "
        "so this reply is canned.",
        HOW_TO_CONFIGURE,
    ]
    if tool_names:
        parts.append(_tools_sentence(dict.fromkeys(tool_names)))
    return " ".join(parts)


def _tools_sentence(tools: dict[str, Any]) -> str:
    if not tools:
        return "This agent has no tools."
    names = ", ".join(f"`{name}`" for name in tools)
    return f"To call a tool, type `/tool <name> {{json arguments}}`; tools: {names}."


def _tool_result_text(items: Sequence[Any], output_item: Any) -> str:
    call_id = _field(output_item, "call_id")
    name = next(
        (
            _field(item, "name")
            for item in items
            if _field(item, "type") == "function_call" and _field(item, "call_id") == call_id
        ),
        "tool",
    )
    output = _field(output_item, "output")
    if not isinstance(output, str):
        output = json.dumps(output, default=str)
    return f"The tool `{name}` returned: {output}"


def _tool_arguments(raw: str) -> str:
    raw = raw.strip()
    if not raw:
        return "{}"
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return json.dumps({"input": raw})
    return json.dumps(value if isinstance(value, dict) else {"input": value})


def last_user_text(items: Sequence[Any]) -> tuple[str, list[str]]:
    """Text of the newest user message that is not context, and notes on its attachments."""
    for item in reversed(items):
        if _field(item, "role") != "user":
            continue
        content = _field(item, "content")
        if isinstance(content, str):
            if is_context_text(content):
                continue
            return content, []
        texts: list[str] = []
        images = files = 0
        for part in content or []:
            kind = _field(part, "type")
            if kind == "input_text":
                texts.append(str(_field(part, "text") or ""))
            elif kind == "input_image":
                images += 1
            elif kind == "input_file":
                files += 1
        if texts and is_context_text(texts[0]):
            continue
        files += len(texts) - 1 if texts else 0
        extras = [_count(images, "image"), _count(files, "file")]
        return (texts[0] if texts else ""), [extra for extra in extras if extra]
    return "", []


def _count(number: int, noun: str) -> str:
    if number == 0:
        return ""
    return f"1 {noun}" if number == 1 else f"{number} {noun}s"


def split_tokens(text: str) -> list[str]:
    """Word-sized tokens that join back to ``text`` (each keeps its trailing whitespace)."""
    return re.findall(r"\S+\s*|\s+", text)


def _message(text: str) -> ResponseOutputMessage:
    return ResponseOutputMessage(
        type="message",
        id=f"msg_offline_{uuid.uuid4().hex[:12]}",
        role="assistant",
        status="completed",
        content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
    )


def _as_items(value: str | list[TResponseInputItem]) -> list[Any]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return list(value)


def _field(item: Any, name: str) -> Any:
    if isinstance(item, dict):
        return item.get(name)
    return getattr(item, name, None)
