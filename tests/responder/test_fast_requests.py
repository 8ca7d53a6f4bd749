"""``ModelClient`` sends the very requests the ``openai`` client sends, without its transform.

The Agents SDK's two models run the same inputs (tools, tool choice, reasoning, response
format, handoffs, previous messages with tool calls and images, extra body, headers and
query, extra arguments) once on a plain ``AsyncOpenAI`` and once on ``ModelClient``,
against the fake server; the requests must be equal byte for byte (method, path and
query, body, headers), and ``ModelClient`` must have built them itself.
"""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from agents import (
    AgentOutputSchema,
    FunctionTool,
    Handoff,
    ModelSettings,
    ModelTracing,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
)
from agents.items import TResponseInputItem
from openai import AsyncOpenAI
from openai.types.shared import Reasoning
from pydantic import BaseModel

from chatkit_backend.responder import fast_requests
from chatkit_backend.responder.fast_requests import ModelClient, is_plain, transform_is_identity
from tests.fakes.openai_server import FakeOpenAIServer, RecordedRequest

IMAGE = "data:image/png;base64,iVBORw0KGgo="


class Answer(BaseModel):
    title: str
    score: int


async def _lookup(context: Any, arguments: str) -> str:
    return "found"


LOOKUP = FunctionTool(
    name="lookup",
    description="Look something up.",
    params_json_schema={
        "type": "object",
        "properties": {"q": {"type": "string"}},
        "required": ["q"],
        "additionalProperties": False,
    },
    on_invoke_tool=_lookup,
)


async def _to_other(context: Any, arguments: str) -> Any:
    return None


HANDOFF: Handoff[Any, Any] = Handoff(
    tool_name="transfer_to_billing",
    tool_description="Hand off to billing.",
    input_json_schema={"type": "object", "properties": {}, "additionalProperties": False},
    on_invoke_handoff=_to_other,
    agent_name="billing",
)

HISTORY: list[TResponseInputItem] = [
    {"role": "user", "content": "What is in this picture? Look it up."},
    {
        "role": "user",
        "content": [
            {"type": "input_text", "text": "Here:"},
            {"type": "input_image", "image_url": IMAGE, "detail": "auto"},
        ],
    },
    {
        "type": "message",
        "role": "assistant",
        "id": "msg_1",
        "status": "completed",
        "content": [{"type": "output_text", "text": "Let me look.", "annotations": []}],
    },
    {
        "type": "function_call",
        "call_id": "call_1",
        "name": "lookup",
        "arguments": '{"q": "picture"}',
        "id": "fc_1",
        "status": "completed",
    },
    {"type": "function_call_output", "call_id": "call_1", "output": "a cat"},
    {"role": "user", "content": "And now — in French, s'il vous plaît?"},
]

CASES: dict[str, tuple[ModelSettings, bool, bool]] = {
    # name: (model settings, with tools and handoffs, with an output schema)
    "plain": (ModelSettings(), False, False),
    "tools": (ModelSettings(tool_choice="required", parallel_tool_calls=True), True, False),
    "named tool": (ModelSettings(tool_choice="lookup"), True, False),
    "response format": (ModelSettings(temperature=0.2, top_p=0.9), False, True),
    "reasoning": (
        ModelSettings(reasoning=Reasoning(effort="low", summary="auto"), verbosity="low"),
        False,
        False,
    ),
    "everything": (
        ModelSettings(
            temperature=0.7,
            max_tokens=64,
            metadata={"team": "qa"},
            store=False,
            top_logprobs=2,
            extra_body={"seed_extra": [1, 2]},
            extra_headers={"X-Custom": "yes"},
            extra_query={"api-version": "2025-01-01"},
            extra_args={"user": "u-1"},
        ),
        True,
        True,
    ),
}


@pytest.fixture
def built_by_model_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """One entry per ``create`` on a ``ModelClient``: True when it built the body itself."""
    outcomes: list[bool] = []
    original = fast_requests._PlainCreate.body

    def body(self: Any, kwargs: Any) -> Any:
        result = original(self, kwargs)
        outcomes.append(result is not None)
        return result

    monkeypatch.setattr(fast_requests._PlainCreate, "body", body)
    yield outcomes


def described(request: RecordedRequest) -> tuple[str, str, dict[str, str], bytes]:
    headers = dict(request.headers)
    headers.pop("host", None)  # the port differs: one fake server per client
    return request.method, request.path, headers, request.body


async def one_request(api: str, client: AsyncOpenAI, case: str, stream: bool) -> None:
    settings, with_tools, with_schema = CASES[case]
    model_class = OpenAIChatCompletionsModel if api == "chat" else OpenAIResponsesModel
    model = model_class("gpt-test", client)
    arguments: tuple[Any, ...] = (
        "Be brief.",
        HISTORY,
        settings,
        [LOOKUP] if with_tools else [],
        AgentOutputSchema(Answer) if with_schema else None,
        [HANDOFF] if with_tools else [],
        ModelTracing.DISABLED,
    )
    if stream:
        async for _ in model.stream_response(*arguments):
            pass
    else:
        # get_response's later parameters are keyword-only; the tuple hides its length from mypy.
        get_response: Any = model.get_response
        await get_response(*arguments, previous_response_id=None, conversation_id=None)


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_model_client_sends_the_clients_request(
    api: str, case: str, stream: bool, built_by_model_client: list[bool]
) -> None:
    requests = []
    for client_class in (AsyncOpenAI, ModelClient):
        with FakeOpenAIServer() as fake:
            client = client_class(api_key="sk-test", base_url=fake.url, max_retries=0)
            await one_request(api, client, case, stream)
            await client.close()
            (request,) = fake.requests
            requests.append(described(request))
    assert requests[1] == requests[0]
    assert built_by_model_client == [True]
    body = json.loads(requests[0][3])
    assert body["model"] == "gpt-test" and ("stream" in body) == stream


async def test_data_that_is_not_plain_takes_the_clients_transform(
    built_by_model_client: list[bool],
) -> None:
    """A tuple, or a pydantic model inside the data: ``create()`` builds the body (a model
    as a parameter's value is dumped as the transform dumps it)."""
    messages: Any = ({"role": "user", "content": "hi"},)  # a tuple, not a list
    inside: Any = [{"role": "user", "content": [Answer(title="t", score=1)]}]
    requests = []
    for client_class in (AsyncOpenAI, ModelClient):
        with FakeOpenAIServer() as fake:
            client = client_class(api_key="sk-test", base_url=fake.url, max_retries=0)
            await client.chat.completions.create(model="m", messages=messages)
            await client.responses.create(model="m", input=inside)
            create: Any = client.responses.create  # a Reasoning model where a dict is typed
            await create(model="m", input="hi", reasoning=Reasoning(effort="low"))
            await client.close()
            requests.append([described(request) for request in fake.requests])
    assert requests[1] == requests[0]
    assert built_by_model_client == [False, False, True]


async def test_bad_arguments_fail_as_the_client_fails() -> None:
    client = ModelClient(api_key="sk-test", base_url="http://127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(TypeError, match="Missing required argument"):
        await client.chat.completions.create(model="m")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        await client.responses.create(model="m", input="hi", colour="red")  # type: ignore[call-overload]
    await client.close()


def test_plain_data_is_json_made_of_exact_types() -> None:
    assert is_plain({"a": [1, 2.5, "x", None, True, {"b": []}]})
    assert not is_plain({"a": (1,)})
    assert not is_plain({1: "a"})
    assert not is_plain({"a": Answer(title="t", score=1)})
    assert not is_plain([object()])


def test_the_transform_of_both_parameter_types_changes_nothing() -> None:
    """Pinned: were a release to add an alias or a format to these types, ``ModelClient``
    would fall back to ``create()`` for every request (this test says so)."""
    from typing import Annotated, TypedDict

    from openai.types.chat import completion_create_params
    from openai.types.responses import response_create_params

    from chatkit_backend import sdk_compat

    assert transform_is_identity(completion_create_params.CompletionCreateParamsStreaming)
    assert transform_is_identity(response_create_params.ResponseCreateParamsStreaming)

    info = sdk_compat.openai_property_info()

    class Inner(TypedDict):
        card_id: Annotated[str, info(alias="cardID")]

    class Outer(TypedDict):
        cards: list[Inner]

    assert not transform_is_identity(Outer)
