"""``CHATKIT_MODELS``: the composer's model picker against the fake OpenAI server.

The picked entry's model and settings reach the Responses request; an unknown id is a 422
before any stream (create, add, retry); a retry keeps the retried message's model; a
continued turn keeps the thread's; without ``CHATKIT_MODELS`` the choice is ignored.
"""

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from agents import Agent, RunContextWrapper, StopAtTools, function_tool
from chatkit.agents import AgentContext, ClientToolCall

from chatkit_backend.agent_config import ModelEntry
from chatkit_backend.app import create_app
from chatkit_backend.responder import AgentResponder
from chatkit_backend.settings import Settings, SettingsError, load_settings
from chatkit_backend.stores import MemoryStore
from tests.fakes.openai_server import FakeOpenAIServer, Reply, ToolCall
from tests.responder.conftest import LiveApp, live_app, model_settings, user_input
from tests.support.live import run_app

MODELS = [
    {"id": "fast", "model": "openai:gpt-4.1-mini", "default": True, "label": "Fast"},
    {
        "id": "deep",
        "model": "openai:o4-mini",
        "reasoning_effort": "high",
        "reasoning_summary": "auto",
        "max_output_tokens": 2000,
    },
    {"id": "warm", "model": "openai:gpt-4.1", "temperature": 0.2},
]


def picker_settings(fake: FakeOpenAIServer, models: list[dict[str, Any]] = MODELS) -> Settings:
    return model_settings("openai", fake, model=None, models=json.dumps(models))


@pytest.fixture
def picker(fake: FakeOpenAIServer) -> Iterator[LiveApp]:
    with live_app(picker_settings(fake)) as app:
        yield app


def create(text: str, **options: Any) -> dict[str, Any]:
    return {
        "type": "threads.create",
        "params": {"input": user_input(text, inference_options=options)},
    }


def add(thread_id: str, text: str, **options: Any) -> dict[str, Any]:
    return {
        "type": "threads.add_user_message",
        "params": {"thread_id": thread_id, "input": user_input(text, inference_options=options)},
    }


def assert_refused_before_any_stream(response: httpx.Response, message: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["message"] == message


# -- the request carries the picked entry -------------------------------------------------
def test_picked_model_and_its_reasoning_reach_the_responses_request(
    picker: LiveApp, fake: FakeOpenAIServer
) -> None:
    stream = picker.stream(create("think hard", model="deep"))

    assert stream.assistant_text == "Hello from the fake model."
    body = fake.model_requests[-1].json()
    assert body["model"] == "o4-mini"
    assert body["reasoning"] == {"effort": "high", "summary": "auto"}
    assert body["max_output_tokens"] == 2000
    assert "temperature" not in body


def test_temperature_of_an_entry_reaches_the_request(
    picker: LiveApp, fake: FakeOpenAIServer
) -> None:
    picker.stream(create("hi", model="warm"))

    body = fake.model_requests[-1].json()
    assert (body["model"], body["temperature"]) == ("gpt-4.1", 0.2)
    assert "reasoning" not in body


def test_a_message_naming_no_model_gets_the_default_entry(
    picker: LiveApp, fake: FakeOpenAIServer
) -> None:
    picker.stream(create("hi"))

    body = fake.model_requests[-1].json()
    assert body["model"] == "gpt-4.1-mini"
    assert "reasoning" not in body and "max_output_tokens" not in body


def test_each_message_of_a_thread_runs_on_its_own_pick(
    picker: LiveApp, fake: FakeOpenAIServer
) -> None:
    thread_id = picker.stream(create("one", model="deep")).thread_id
    picker.stream(add(thread_id, "two", model="fast"))
    picker.stream(add(thread_id, "three"))

    assert [request.json()["model"] for request in fake.model_requests] == [
        "o4-mini",
        "gpt-4.1-mini",
        "gpt-4.1-mini",
    ]
    stored = [item for item in picker.items(thread_id) if item["type"] == "user_message"]
    assert [item["inference_options"].get("model") for item in stored] == ["deep", "fast", None]


def test_a_chat_completions_entry_sends_its_reasoning_effort(fake: FakeOpenAIServer) -> None:
    models = [{"id": "local", "model": "openai-compatible:qwen3", "reasoning_effort": "low"}]
    with live_app(picker_settings(fake, models)) as app:
        app.stream(create("hi", model="local"))

    request = fake.model_requests[-1]
    assert request.path.endswith("/chat/completions")
    assert (request.json()["model"], request.json()["reasoning_effort"]) == ("qwen3", "low")


# -- unknown ids: 422 before any stream -----------------------------------------------------
def test_unknown_model_on_create_is_422_and_creates_nothing(
    picker: LiveApp, fake: FakeOpenAIServer
) -> None:
    response = picker.post(create("hi", model="gpt-5"))

    assert_refused_before_any_stream(
        response,
        "params.input.inference_options.model: unknown model 'gpt-5'; expected one of: "
        "fast, deep, warm",
    )
    threads = picker.post({"type": "threads.list", "params": {}}).json()["data"]
    assert threads == []
    assert fake.model_requests == []


def test_unknown_model_on_add_user_message_is_422_and_adds_nothing(
    picker: LiveApp, fake: FakeOpenAIServer
) -> None:
    thread_id = picker.stream(create("hi")).thread_id

    response = picker.post(add(thread_id, "again", model="Deep"))

    assert_refused_before_any_stream(
        response,
        "params.input.inference_options.model: unknown model 'Deep'; expected one of: "
        "fast, deep, warm",
    )
    assert len([i for i in picker.items(thread_id) if i["type"] == "user_message"]) == 1
    assert len(fake.model_requests) == 1


def test_retry_keeps_the_model_the_message_was_sent_with(
    picker: LiveApp, fake: FakeOpenAIServer
) -> None:
    thread_id = picker.stream(create("first", model="deep")).thread_id
    picker.stream(add(thread_id, "second", model="fast"))
    first = next(i for i in picker.items(thread_id) if i["type"] == "user_message")

    picker.stream(
        {
            "type": "threads.retry_after_item",
            "params": {"thread_id": thread_id, "item_id": first["id"]},
        }
    )

    body = fake.model_requests[-1].json()
    assert body["model"] == "o4-mini"
    assert body["reasoning"] == {"effort": "high", "summary": "auto"}


def test_retry_of_a_message_whose_model_is_gone_is_422(fake: FakeOpenAIServer) -> None:
    store = MemoryStore()
    with run_app(create_app(picker_settings(fake), store=store)) as base_url:
        before = LiveApp(base_url, store, None)
        thread_id = before.stream(create("hi", model="deep")).thread_id
        message = next(i for i in before.items(thread_id) if i["type"] == "user_message")
    fewer = [entry for entry in MODELS if entry["id"] != "deep"]
    with run_app(create_app(picker_settings(fake, fewer), store=store)) as base_url:
        after = LiveApp(base_url, store, None)
        response = after.post(
            {
                "type": "threads.retry_after_item",
                "params": {"thread_id": thread_id, "item_id": message["id"]},
            }
        )
        items = after.items(thread_id)

    assert_refused_before_any_stream(
        response,
        f"item {message['id']!r} inference_options.model: unknown model 'deep'; "
        "expected one of: fast, warm",
    )
    assert [item["type"] for item in items].count("assistant_message") == 1
    assert len(fake.model_requests) == 1


def test_a_turn_continued_after_a_client_tool_keeps_the_threads_model(
    fake: FakeOpenAIServer,
) -> None:
    @function_tool
    async def get_selection(ctx: RunContextWrapper[AgentContext[Any]]) -> str:
        """Ask the browser for the selected text."""
        ctx.context.client_tool_call = ClientToolCall(name="get_selection", arguments={})
        return "asked the browser"

    agent = Agent(
        name="Assistant",
        tools=[get_selection],
        tool_use_behavior=StopAtTools(stop_at_tool_names=["get_selection"]),
    )
    fake.enqueue(Reply(text="", tool_calls=(ToolCall("get_selection", {}),)), Reply(text="Got it"))
    with live_app(picker_settings(fake), agent=agent) as app:
        thread_id = app.stream(create("what did I select?", model="deep")).thread_id
        pending = [i for i in app.items(thread_id) if i["type"] == "client_tool_call"]
        assert pending and pending[0]["status"] == "pending"
        stream = app.stream(
            {
                "type": "threads.add_client_tool_output",
                "params": {"thread_id": thread_id, "result": {"text": "hello"}},
            }
        )

    assert stream.assistant_text == "Got it"
    assert [request.json()["model"] for request in fake.model_requests] == ["o4-mini", "o4-mini"]
    assert "tool_choice" not in fake.model_requests[-1].json()


# -- without CHATKIT_MODELS ----------------------------------------------------------------
def test_without_models_the_picked_model_is_ignored(fake: FakeOpenAIServer) -> None:
    with live_app(model_settings("openai", fake)) as app:
        stream = app.stream(create("hi", model="gpt-5"))

    assert stream.status == 200 and stream.assistant_text == "Hello from the fake model."
    assert fake.model_requests[-1].json()["model"] == "fake-model"


# -- settings ------------------------------------------------------------------------------
def test_the_responder_describes_every_entry(fake: FakeOpenAIServer) -> None:
    responder = AgentResponder(picker_settings(fake))

    assert responder.describe() == (
        f"fast=openai:gpt-4.1-mini at {fake.url} (Responses API) [default], "
        f"deep=openai:o4-mini at {fake.url} (Responses API, reasoning high, max 2000 tokens), "
        f"warm=openai:gpt-4.1 at {fake.url} (Responses API, temperature 0.2)"
    )
    assert responder.choice.name == "gpt-4.1-mini"


def test_first_entry_is_the_default_when_none_is_marked() -> None:
    settings = Settings(
        models=[ModelEntry(id="a", model="offline"), ModelEntry(id="b", model="offline")],
        model_api_key=None,
        model_base_url=None,
    )
    responder = AgentResponder(settings)
    assert responder.catalog.default.id == "a"
    assert responder.client is None


def test_an_openai_entry_without_a_key_is_refused_naming_the_entry() -> None:
    settings = Settings(
        models=[
            ModelEntry(id="local", model="offline"),
            ModelEntry(id="deep", model="openai:o4-mini"),
        ],
        model_api_key=None,
        model_base_url=None,
    )
    with pytest.raises(SettingsError) as caught:
        AgentResponder(settings)
    assert str(caught.value) == (
        "CHATKIT_MODELS entry 'deep' (openai:o4-mini) needs an API key: set "
        "CHATKIT_MODEL_API_KEY or OPENAI_API_KEY (or CHATKIT_MODEL_BASE_URL for a server "
        "that needs none)"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            '[{"id": "a", "model": "gpt-5"}]',
            "[0] (a): model: must be 'offline', 'openai:<model>' "
            "or 'openai-compatible:<model>' (got 'gpt-5')",
        ),
        (
            '[{"id": "a", "model": "openai:x", "reasoning_effort": "hgih"}]',
            "[0] (a).reasoning_effort: Input should be 'none', 'minimal', 'low', 'medium', 'high', "
            "'xhigh' or 'max'",
        ),
        (
            '[{"id": "a", "model": "openai:x", "reasoning": "high"}]',
            "[0] (a).reasoning: unknown field for a model entry",
        ),
        (
            '[{"id": "a", "model": "openai:x"}, {"id": "a", "model": "openai:y"}]',
            "duplicate id 'a'",
        ),
        (
            '[{"id": "a", "model": "offline", "default": true}, '
            '{"id": "b", "model": "offline", "default": true}]',
            "only one entry may be the default (got a, b)",
        ),
        ('[{"model": "openai:x"}]', "[0].id: Field required"),
        ('{"id": "a"}', "must be a JSON list of objects"),
        ("[{", "not valid JSON: Expecting property name enclosed in double quotes at character 2"),
    ],
)
def test_bad_models_setting_names_the_entry(value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(models=value)
    assert str(caught.value) == f"invalid settings:\n  CHATKIT_MODELS: {message}"


def test_model_and_models_together_are_refused() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(model="openai:gpt-4.1", models='[{"id": "a", "model": "offline"}]')
    assert str(caught.value) == (
        "invalid settings:\n  set CHATKIT_MODEL or CHATKIT_MODELS, not both (the default entry "
        "of CHATKIT_MODELS is the model used when a message names none)"
    )


def test_reasoning_efforts_match_the_openai_sdk() -> None:
    from typing import get_args

    from openai.types.shared import ReasoningEffort

    from chatkit_backend.agent_config import ReasoningEffort as Ours

    theirs = {value for value in get_args(get_args(ReasoningEffort)[0]) if value is not None}
    assert set(get_args(Ours)) == theirs, "update agent_config.ReasoningEffort to the openai SDK's"
