"""The history converter: every kind of thread item becomes input both model APIs accept."""

from datetime import datetime, timedelta
from typing import Any

from agents.models.chatcmpl_converter import Converter as ChatCompletionsConverter
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ClientToolCallItem,
    HiddenContextItem,
    InferenceOptions,
    SDKHiddenContextItem,
    UserMessageItem,
    UserMessageTagContent,
    UserMessageTextContent,
    WidgetItem,
)

from chatkit_backend.responder.converter import BackendThreadItemConverter
from tests.support.widgets import text_card

START = datetime(2025, 1, 1, 12, 0, 0)


def at(seconds: int) -> datetime:
    return START + timedelta(seconds=seconds)


def thread_items() -> list[Any]:
    return [
        UserMessageItem(
            id="m1",
            thread_id="t",
            created_at=at(0),
            content=[
                UserMessageTextContent(text="Compare "),
                UserMessageTagContent(id="p1", text="Alpha", data={"price": 10}),
            ],
            inference_options=InferenceOptions(),
        ),
        AssistantMessageItem(
            id="m2",
            thread_id="t",
            created_at=at(1),
            content=[
                AssistantMessageContent(text="Alpha costs 10."),
                AssistantMessageContent(text=" Cheap."),
            ],
        ),
        WidgetItem(
            id="m3",
            thread_id="t",
            created_at=at(2),
            widget=text_card("Alpha: 10"),
        ),
        ClientToolCallItem(
            id="m4",
            thread_id="t",
            created_at=at(3),
            status="completed",
            call_id="call_7",
            name="get_selection",
            arguments={"scope": "page"},
            output={"selected": "Alpha"},
        ),
        HiddenContextItem(id="m5", thread_id="t", created_at=at(4), content={"plan": "pro"}),
        SDKHiddenContextItem(
            id="m6", thread_id="t", created_at=at(5), content="The user cancelled the stream."
        ),
        UserMessageItem(
            id="m7",
            thread_id="t",
            created_at=at(6),
            content=[UserMessageTextContent(text="Why?")],
            quoted_text="Alpha costs 10.",
            inference_options=InferenceOptions(),
        ),
    ]


def text_of(item: Any) -> str:
    """Every string inside an input item, joined."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        return " ".join(text_of(value) for value in item.values())
    if isinstance(item, list):
        return " ".join(text_of(value) for value in item)
    return ""


async def test_every_item_kind_is_converted() -> None:
    converted = await BackendThreadItemConverter().to_agent_input(thread_items())
    texts = [text_of(item) for item in converted]

    assert converted[0]["content"][0] == {"type": "input_text", "text": "Compare @Alpha"}  # type: ignore[index,typeddict-item]
    assert any('@Alpha refers to: {"price": 10}' in text for text in texts)
    assert {
        "type": "message",
        "role": "assistant",
        "content": "Alpha costs 10. Cheap.",
    } in converted
    assert any("graphical UI widget" in text and "Alpha: 10" in text for text in texts)
    assert {
        "type": "function_call",
        "call_id": "call_7",
        "name": "get_selection",
        "arguments": '{"scope": "page"}',
    } in converted
    assert {
        "type": "function_call_output",
        "call_id": "call_7",
        "output": '{"selected": "Alpha"}',
    } in converted
    assert any('<HiddenContext>\n{"plan": "pro"}\n</HiddenContext>' in text for text in texts)
    assert any("The user cancelled the stream." in text for text in texts)
    assert any(
        "The user is referring to this in particular: \nAlpha costs 10." in text for text in texts
    )


async def test_converted_history_is_accepted_by_chat_completions() -> None:
    converted = await BackendThreadItemConverter().to_agent_input(thread_items())

    messages = ChatCompletionsConverter.items_to_messages(converted)

    roles = [message["role"] for message in messages]
    assert roles.count("assistant") == 2  # the reply, and the client tool call
    assert roles.count("tool") == 1
    assert {"role": "assistant", "content": "Alpha costs 10. Cheap."} in messages


async def test_empty_assistant_message_is_left_out() -> None:
    empty = AssistantMessageItem(
        id="m", thread_id="t", created_at=START, content=[AssistantMessageContent(text=" ")]
    )

    assert await BackendThreadItemConverter().to_agent_input([empty]) == []
