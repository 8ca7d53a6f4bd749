"""``CHATKIT_TOOLS``: hosted tools and the composer's tool menu against the fake OpenAI server.

The configured hosted tools reach the Responses request; ``tool_choice.id`` forces its
tool for the turn (and the SDK lets go after the first call); an unknown id is a 422
before any stream; hosted tools next to a Chat Completions model stop the start.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from agents import Agent, function_tool

from chatkit_backend.app import create_app
from chatkit_backend.responder import AgentResponder
from chatkit_backend.settings import SettingsError, load_settings
from tests.fakes.openai_server import FakeOpenAIServer, tool_round
from tests.responder.conftest import live_app, model_settings, user_input
from tests.support.live import run_cli

HOSTED = [
    {
        "type": "web_search",
        "id": "search",
        "search_context_size": "high",
        "allowed_domains": ["openai.com"],
    },
    {"type": "file_search", "id": "docs", "vector_store_ids": ["vs_123"], "max_num_results": 5},
    {"type": "code_interpreter", "id": "python"},
    {"type": "image_generation", "id": "draw", "size": "1024x1024", "quality": "low"},
]


def create(text: str, **options: Any) -> dict[str, Any]:
    return {
        "type": "threads.create",
        "params": {"input": user_input(text, inference_options=options)},
    }


@function_tool
def lookup_order(order_id: str) -> str:
    """Look an order up."""
    return f"order {order_id} shipped yesterday"


def test_configured_hosted_tools_reach_the_responses_request(fake: FakeOpenAIServer) -> None:
    with live_app(
        model_settings("openai", fake, tools=json.dumps(HOSTED), attachments=True)
    ) as app:
        stream = app.stream(create("hi"))

    assert stream.assistant_text == "Hello from the fake model."
    body = fake.model_requests[-1].json()
    assert body["tools"] == [
        {
            "type": "web_search",
            "filters": {"allowed_domains": ["openai.com"]},
            "user_location": None,
            "search_context_size": "high",
        },
        {"type": "file_search", "vector_store_ids": ["vs_123"], "max_num_results": 5},
        {"type": "code_interpreter", "container": {"type": "auto"}},
        {"type": "image_generation", "size": "1024x1024", "quality": "low"},
    ]
    assert "tool_choice" not in body


@pytest.mark.parametrize(
    ("tool_id", "expected"),
    [
        ("search", {"type": "web_search"}),
        ("docs", {"type": "file_search"}),
        ("python", {"type": "code_interpreter"}),
        ("draw", {"type": "image_generation"}),
    ],
)
def test_tool_menu_choice_forces_the_hosted_tool(
    fake: FakeOpenAIServer, tool_id: str, expected: dict[str, str]
) -> None:
    with live_app(
        model_settings("openai", fake, tools=json.dumps(HOSTED), attachments=True)
    ) as app:
        app.stream(create("hi", tool_choice={"id": tool_id}))

    assert fake.model_requests[-1].json()["tool_choice"] == expected


def test_tool_menu_choice_forces_a_function_of_the_agent_once(fake: FakeOpenAIServer) -> None:
    agent = Agent(name="Support", instructions="Help.", tools=[lookup_order])
    tools = [{"type": "function", "name": "lookup_order", "id": "orders", "label": "Orders"}]
    fake.enqueue(*tool_round("lookup_order", {"order_id": "A7"}))
    with live_app(model_settings("openai", fake, tools=json.dumps(tools)), agent=agent) as app:
        stream = app.stream(create("where is A7?", tool_choice={"id": "orders"}))
        second = app.stream(
            {
                "type": "threads.add_user_message",
                "params": {"thread_id": stream.thread_id, "input": user_input("thanks")},
            }
        )

    assert stream.assistant_text == "The tool said: order A7 shipped yesterday"
    first, after_tool, next_message = (request.json() for request in fake.model_requests)
    assert first["tool_choice"] == {"type": "function", "name": "lookup_order"}
    assert "tool_choice" not in after_tool  # the SDK resets the choice after the call
    assert "tool_choice" not in next_message  # and it applied to that one turn only
    assert second.status == 200


def test_unknown_tool_id_is_422_before_any_stream(fake: FakeOpenAIServer) -> None:
    with live_app(
        model_settings("openai", fake, tools=json.dumps(HOSTED), attachments=True)
    ) as app:
        response = app.post(create("hi", tool_choice={"id": "browse"}))
        threads = app.post({"type": "threads.list", "params": {}}).json()["data"]
        thread_id = app.stream(create("hi")).thread_id
        added = app.post(
            {
                "type": "threads.add_user_message",
                "params": {
                    "thread_id": thread_id,
                    "input": user_input("again", inference_options={"tool_choice": {"id": "x"}}),
                },
            }
        )

    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "invalid_request",
        "message": "params.input.inference_options.tool_choice.id: unknown tool 'browse'; "
        "expected one of: search, docs, python, draw",
        "request_id": response.headers["x-request-id"],
    }
    assert threads == []
    assert added.status_code == 422
    assert added.json()["error"]["message"].startswith(
        "params.input.inference_options.tool_choice.id: unknown tool 'x'"
    )
    assert len(fake.model_requests) == 1


def test_without_tool_ids_a_tool_choice_is_ignored(fake: FakeOpenAIServer) -> None:
    tools = [{"type": "web_search"}]
    with live_app(model_settings("openai", fake, tools=json.dumps(tools))) as app:
        stream = app.stream(create("hi", tool_choice={"id": "anything"}))

    assert stream.status == 200
    assert "tool_choice" not in fake.model_requests[-1].json()


# -- refused at start -----------------------------------------------------------------------
def test_hosted_tools_with_a_chat_completions_model_are_refused(fake: FakeOpenAIServer) -> None:
    settings = model_settings("openai-compatible", fake, tools='[{"type": "web_search"}]')
    with pytest.raises(SettingsError) as caught:
        create_app(settings)
    assert str(caught.value) == (
        "CHATKIT_TOOLS has hosted tools (web_search) that run on OpenAI's side through the "
        "Responses API, but the model openai-compatible:fake-model (CHATKIT_MODEL or "
        "CHATKIT_MODELS) speaks Chat Completions: use an openai:<model>, or remove those tools"
    )


def test_hosted_tools_with_one_chat_completions_entry_are_refused(fake: FakeOpenAIServer) -> None:
    models = [
        {"id": "cloud", "model": "openai:gpt-4.1"},
        {"id": "local", "model": "openai-compatible:llama3.1"},
    ]
    settings = model_settings(
        "openai",
        fake,
        model=None,
        models=json.dumps(models),
        tools='[{"type": "file_search", "vector_store_ids": ["vs_1"]}, {"type": "code_interpreter"}]',
    )
    with pytest.raises(
        SettingsError,
        match=r"hosted tools \(file_search, code_interpreter\).*openai-compatible:llama3.1",
    ):
        AgentResponder(settings)


def test_serve_refuses_hosted_tools_with_chat_completions(tmp_path: Path) -> None:
    result = run_cli(
        ["serve"],
        {
            "CHATKIT_DATA_DIR": str(tmp_path / "data"),
            "CHATKIT_MODEL": "openai-compatible:llama3.1",
            "CHATKIT_MODEL_BASE_URL": "http://127.0.0.1:9/v1",
            "CHATKIT_TOOLS": '[{"type": "web_search"}]',
            "COLUMNS": "400",
        },
    )

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "error: CHATKIT_TOOLS has hosted tools (web_search) that run on OpenAI's side through "
        "the Responses API, but the model openai-compatible:llama3.1 (CHATKIT_MODEL or "
        "CHATKIT_MODELS) speaks Chat Completions: use an openai:<model>, or remove those tools"
    ]


def test_a_function_entry_must_name_a_tool_of_the_agent(fake: FakeOpenAIServer) -> None:
    agent = Agent(name="Support", tools=[lookup_order])
    settings = model_settings(
        "openai", fake, tools='[{"type": "function", "name": "cancel_order", "id": "cancel"}]'
    )
    with pytest.raises(SettingsError) as caught:
        AgentResponder(settings, agent=agent)
    assert str(caught.value) == (
        "CHATKIT_TOOLS entry 'cancel' names the function 'cancel_order', which agent 'Support' "
        "does not have (its function tools: lookup_order)"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            '[{"type": "browser"}]',
            "[0]: type must be one of: web_search, file_search, code_interpreter, "
            "image_generation, mcp, function",
        ),
        ('[{"type": "file_search", "id": "kb"}]', "[0] (kb).vector_store_ids: Field required"),
        (
            '[{"type": "file_search", "vector_store_ids": ["vs"], "max_num_results": 90}]',
            "[0].max_num_results: Input should be less than or equal to 50",
        ),
        (
            '[{"type": "mcp", "name": "docs"}]',
            "[0] (docs): MCP server 'docs': give either url (streamable HTTP) or command (stdio)",
        ),
        (
            '[{"type": "mcp", "name": "docs", "url": "ftp://x"}]',
            "[0] (docs): MCP server 'docs': url must start with http:// or https://",
        ),
        (
            '[{"type": "mcp", "name": "fs", "command": ["srv"], "headers": {"A": "b"}}]',
            "[0] (fs): MCP server 'fs': headers apply to url servers only",
        ),
        (
            '[{"type": "web_search", "id": "s"}, {"type": "code_interpreter", "id": "s"}]',
            "duplicate id 's'",
        ),
        (
            '[{"type": "function", "name": "f"}]',
            "[0] (f): function 'f': needs an id (a function entry only names a tool of your agent "
            "for the composer's tool menu)",
        ),
        ('[{"type": "web_search", "cache": true}]', "[0].cache: unknown field for a tool entry"),
    ],
)
def test_bad_tools_setting_names_the_entry(value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(tools=value)
    assert str(caught.value) == f"invalid settings:\n  CHATKIT_TOOLS: {message}"


def test_tools_setting_errors_never_show_header_values() -> None:
    value = (
        '[{"type": "mcp", "name": "docs", "url": "http://x/mcp", "headers": {"Authorization": 5}}]'
    )
    with pytest.raises(SettingsError) as caught:
        load_settings(tools=value.replace("5", '"Bearer s3cret"').replace("http://x", "ftp://x"))
    assert "s3cret" not in str(caught.value)
    with pytest.raises(SettingsError) as caught:
        load_settings(tools=value)
    assert str(caught.value) == (
        "invalid settings:\n  CHATKIT_TOOLS: [0] (docs).headers.Authorization: Input should be "
        "a valid string"
    )
