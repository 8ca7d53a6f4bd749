"""Whole conversations through HTTP, the agent and the fake model server: ids, history, context."""

import asyncio
from pathlib import Path
from typing import Any

import pytest
from agents import Agent, GuardrailFunctionOutput, function_tool, input_guardrail

from chatkit_backend.context import RequestContext
from tests.fakes.openai_server import FakeOpenAIServer, Reply, ToolCall
from tests.responder.conftest import MODEL_KINDS, live_app, model_settings, offline_settings


def chat_messages(request_body: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of each Chat Completions message, text parts joined."""
    pairs = []
    for message in request_body["messages"]:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content)
        pairs.append((message["role"], content or ""))
    return pairs


def test_three_turns_on_chat_completions_keep_three_distinct_replies(
    fake: FakeOpenAIServer,
) -> None:
    fake.enqueue(
        Reply(text="First answer."), Reply(text="Second answer."), Reply(text="Third answer.")
    )
    with live_app(model_settings("openai-compatible", fake)) as app:
        first = app.create_thread("One")
        thread_id = first.thread_id
        second = app.add_message(thread_id, "Two")
        third = app.add_message(thread_id, "Three")
        items = app.items(thread_id)

    replies = [stream.of_type("thread.item.done")[-1]["item"] for stream in (first, second, third)]
    ids = [reply["id"] for reply in replies]
    assert len(set(ids)) == 3
    assert "__fake_id__" not in str([first.events, second.events, third.events])
    assert all(item_id.startswith("msg_") for item_id in ids)
    assert [(item["type"], item["content"][0]["text"]) for item in items] == [
        ("user_message", "One"),
        ("assistant_message", "First answer."),
        ("user_message", "Two"),
        ("assistant_message", "Second answer."),
        ("user_message", "Three"),
        ("assistant_message", "Third answer."),
    ]
    assert [item["id"] for item in items if item["type"] == "assistant_message"] == ids
    # The third request carried the whole conversation, in order.
    assert chat_messages(fake.model_requests[2].json())[1:] == [
        ("user", "One"),
        ("assistant", "First answer."),
        ("user", "Two"),
        ("assistant", "Second answer."),
        ("user", "Three"),
    ]


def test_every_delta_names_the_item_the_store_keeps(fake: FakeOpenAIServer) -> None:
    fake.enqueue(Reply(text="Streamed in pieces"))
    with live_app(model_settings("openai-compatible", fake)) as app:
        stream = app.create_thread("Hi")

    added = [event["item"]["id"] for event in stream.of_type("thread.item.added")]
    updated = {event["item_id"] for event in stream.of_type("thread.item.updated")}
    done = [event["item"]["id"] for event in stream.of_type("thread.item.done")][
        1:
    ]  # [0] is the user's
    assert len(added) == 1 and updated == set(added) and done == added


def test_history_is_bounded_by_the_setting(fake: FakeOpenAIServer) -> None:
    fake.enqueue(Reply(text="A1"), Reply(text="A2"), Reply(text="A3"))
    with live_app(model_settings("openai-compatible", fake, history_items=3)) as app:
        thread_id = app.create_thread("U1").thread_id
        app.add_message(thread_id, "U2")
        app.add_message(thread_id, "U3")

    assert chat_messages(fake.model_requests[2].json())[1:] == [
        ("user", "U2"),
        ("assistant", "A2"),
        ("user", "U3"),
    ]


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_first_message_gets_a_model_written_title(kind: str, fake: FakeOpenAIServer) -> None:
    fake.completion_reply = Reply(text='"Weekend Trip Ideas."')
    fake.enqueue(Reply(text="Here are ideas."), Reply(text="More."))
    with live_app(model_settings(kind, fake)) as app:
        first = app.create_thread("Where should I go this weekend?")
        second = app.add_message(first.thread_id, "And next weekend?")
        stored = app.store

    updated = first.of_type("thread.updated")
    assert [event["thread"]["title"] for event in updated] == ["Weekend Trip Ideas"]
    assert first.events[-1]["type"] == "thread.updated"
    assert second.of_type("thread.updated") == []  # titled once
    assert len(fake.completion_requests) == 1
    assert "Where should I go this weekend?" in fake.completion_requests[0].text
    context = RequestContext(user_id="local")
    assert _run(stored.load_thread(first.thread_id, context)).title == "Weekend Trip Ideas"


def test_slow_title_falls_back_to_the_first_words(fake: FakeOpenAIServer) -> None:
    fake.completion_reply = Reply(text="Too late", first_token_delay=10)
    fake.enqueue(Reply(text="Answer."))
    with live_app(model_settings("openai-compatible", fake, title_timeout=0.3)) as app:
        stream = app.create_thread("Explain how tides work on Earth, briefly")

    assert (
        stream.of_type("thread.updated")[-1]["thread"]["title"]
        == "Explain how tides work on Earth,"
    )


def test_locale_reaches_the_model_as_context(fake: FakeOpenAIServer) -> None:
    fake.enqueue(Reply(text="Hallo!"))
    with live_app(model_settings("openai-compatible", fake)) as app:
        app.create_thread("Hallo", headers={"Accept-Language": "de-DE,de;q=0.9"})

    messages = chat_messages(fake.model_requests[0].json())
    context = [text for role, text in messages if "Accept-Language" in text]
    assert len(context) == 1
    assert "de-DE" in context[0]
    assert (
        messages[0][0] == "system" and "de-DE" not in messages[0][1]
    )  # the system prompt stays static


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_instructions_file_is_the_system_prompt(
    kind: str, fake: FakeOpenAIServer, tmp_path: Path
) -> None:
    prompt = tmp_path / "prompt.md"
    prompt.write_text("You are Ada, a terse assistant.", encoding="utf-8")
    fake.enqueue(Reply(text="Ok."))
    with live_app(model_settings(kind, fake, instructions_file=prompt)) as app:
        app.create_thread("Hi")

    body = fake.model_requests[0].json()
    if kind == "openai":
        assert body["instructions"] == "You are Ada, a terse assistant."
    else:
        assert body["messages"][0] == {
            "role": "system",
            "content": "You are Ada, a terse assistant.",
        }


@function_tool
def lookup_order(order_id: str) -> str:
    """Look up an order's status."""
    return f"order {order_id} shipped on May 2"


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_server_tool_call_runs_and_its_result_goes_back_to_the_model(
    kind: str, fake: FakeOpenAIServer
) -> None:
    fake.enqueue(
        Reply(
            text="", tool_calls=(ToolCall("lookup_order", {"order_id": "A17"}, call_id="call_9"),)
        ),
        Reply(text="Your order shipped on May 2."),
    )
    with live_app(model_settings(kind, fake), tools=[lookup_order]) as app:
        stream = app.create_thread("Where is order A17?")
        items = app.items(stream.thread_id)

    assert stream.assistant_text == "Your order shipped on May 2."
    assert "order A17 shipped on May 2" in fake.model_requests[1].text
    assert [item["type"] for item in items] == ["user_message", "assistant_message"]


def test_feedback_is_stored(fake: FakeOpenAIServer) -> None:
    fake.enqueue(Reply(text="Answer."))
    with live_app(model_settings("openai-compatible", fake)) as app:
        stream = app.create_thread("Hi")
        reply_id = stream.of_type("thread.item.done")[-1]["item"]["id"]
        response = app.post(
            {
                "type": "items.feedback",
                "params": {
                    "thread_id": stream.thread_id,
                    "item_ids": [reply_id],
                    "kind": "negative",
                },
            }
        )
        feedback = _run(app.store.load_feedback(stream.thread_id, RequestContext(user_id="local")))

    assert response.status_code == 200
    assert [(entry.item_ids, entry.kind, entry.user_id) for entry in feedback] == [
        ([reply_id], "negative", "local")
    ]


def _run(awaitable: Any) -> Any:
    """Run a store call from a sync test (the app's loop is in another thread)."""
    return asyncio.run(awaitable)


def test_two_messages_in_one_reply_get_two_ids(fake: FakeOpenAIServer) -> None:
    fake.enqueue(
        Reply(text="Let me check.", tool_calls=(ToolCall("lookup_order", {"order_id": "B2"}),)),
        Reply(text="It shipped."),
    )
    with live_app(model_settings("openai-compatible", fake), tools=[lookup_order]) as app:
        stream = app.create_thread("Where is B2?")
        items = app.items(stream.thread_id)

    replies = [item for item in items if item["type"] == "assistant_message"]
    assert [reply["content"][0]["text"] for reply in replies] == ["Let me check.", "It shipped."]
    assert len({reply["id"] for reply in replies}) == 2


def test_guardrail_tripwire_ends_the_reply_with_a_final_error() -> None:
    @input_guardrail
    async def no_secrets(ctx: Any, agent: Any, items: Any) -> GuardrailFunctionOutput:
        return GuardrailFunctionOutput(
            output_info="secret", tripwire_triggered="password" in str(items)
        )

    agent = Agent(name="Guarded", input_guardrails=[no_secrets])
    with live_app(offline_settings(), agent=agent) as app:
        refused = app.create_thread("what is the admin password?")
        allowed = app.create_thread("hello")

    assert refused.error == {
        "type": "error",
        "code": "custom",
        "message": "The assistant cannot help with this request.",
        "allow_retry": False,
    }
    assert allowed.of_type("error") == []
    assert allowed.assistant_text.startswith("You wrote: “hello”.")
