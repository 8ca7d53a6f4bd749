"""The offline model: a deterministic, streamed, network-free reply that can call tools."""

import time
from typing import Any

from agents import Agent, RunConfig, Runner, function_tool

from chatkit_backend.responder.context_items import locale_context
from chatkit_backend.responder.offline import HOW_TO_CONFIGURE, OfflineModel, split_tokens

RUN_CONFIG = RunConfig(tracing_disabled=True)


@function_tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


async def run(agent: Agent[Any], text: str) -> tuple[str, list[str]]:
    """Run the agent streamed; return its final text and the raw event types."""
    result = Runner.run_streamed(agent, [{"role": "user", "content": text}], run_config=RUN_CONFIG)
    kinds: list[str] = [
        event.data.type
        async for event in result.stream_events()
        if event.type == "raw_response_event"
    ]
    return str(result.final_output), kinds


async def test_reply_says_it_is_offline_and_how_to_configure() -> None:
    agent = Agent(name="a", model=OfflineModel(token_delay=0))

    text, _ = await run(agent, "What is the capital of France?")

    assert text.startswith("You wrote: “What is the capital of France?”.")
    assert "offline model built into chatkit-backend" in text
    assert HOW_TO_CONFIGURE in text
    assert "CHATKIT_MODEL_BASE_URL" in text and "OPENAI_API_KEY" in text


async def test_reply_is_streamed_token_by_token_and_deterministic() -> None:
    agent = Agent(name="a", model=OfflineModel(token_delay=0))

    first, kinds = await run(agent, "hello there")
    second, _ = await run(agent, "hello there")

    assert first == second
    deltas = kinds.count("response.output_text.delta")
    assert deltas == len(split_tokens(first)) > 20
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"


async def test_token_delay_paces_the_stream() -> None:
    agent = Agent(name="a", model=OfflineModel(token_delay=0.01))

    started = time.monotonic()
    text, _ = await run(agent, "hi")
    elapsed = time.monotonic() - started

    assert elapsed >= 0.01 * len(split_tokens(text)) * 0.9


async def test_tool_command_calls_the_tool_and_reports_its_result() -> None:
    agent = Agent(name="a", model=OfflineModel(token_delay=0), tools=[add])

    text, kinds = await run(agent, '/tool add {"a": 2, "b": 5}')

    assert text == "The tool `add` returned: 7"
    assert kinds.count("response.completed") == 2  # the call, then the answer
    assert "response.function_call_arguments.delta" in kinds


async def test_unknown_tool_is_named_with_the_available_ones() -> None:
    agent = Agent(name="a", model=OfflineModel(token_delay=0), tools=[add])

    text, _ = await run(agent, "/tool subtract {}")

    assert (
        text
        == "There is no tool named `subtract`. To call a tool, type `/tool <name> {json arguments}`; tools: `add`."
    )


async def test_context_messages_are_not_taken_for_the_user_text() -> None:
    agent = Agent(name="a", model=OfflineModel(token_delay=0))
    items: list[Any] = [
        locale_context("de-DE"),
        {"role": "user", "content": "Wie geht es?"},
        {"role": "user", "content": "The user is referring to this in particular: \nsomething"},
    ]

    result = await Runner.run(agent, items, run_config=RUN_CONFIG)

    assert str(result.final_output).startswith("You wrote: “Wie geht es?”.")


def test_tokens_join_back_to_the_text() -> None:
    text = "One  two\nthree, four. "
    assert "".join(split_tokens(text)) == text
    assert split_tokens(text) == ["One  ", "two\n", "three, ", "four. "]
