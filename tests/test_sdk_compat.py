"""Every SDK private name ``sdk_compat`` relies on is still there and still behaves.

Each test fails with a message naming the name and the SDK release it was pinned
against: an upgrade that moves one shows exactly what to change in ``sdk_compat.py``.
"""

import asyncio
import inspect
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import httpx2
import pytest
from agents import Model, RunResultStreaming
from agents.models.interface import Model as InterfaceModel
from agents.run_internal import run_loop
from chatkit.agents import AgentContext
from chatkit.server import ChatKitServer
from chatkit.types import (
    ChatKitReq,
    NonStreamingReq,
    ProgressUpdateEvent,
    StreamingReq,
    StructuredInputItem,
    StructuredInputMultipleChoice,
    StructuredInputSubmission,
    ThreadMetadata,
    UserMessageItem,
)

from chatkit_backend import sdk_compat
from chatkit_backend.context import RequestContext
from chatkit_backend.stores import MemoryStore

ROOT = Path(__file__).resolve().parents[1]
CHATKIT = f"pinned against {sdk_compat.CHATKIT_RELEASE}"
AGENTS = f"pinned against {sdk_compat.AGENTS_RELEASE}"


def moved(name: str, release: str) -> str:
    return f"{name} moved or changed since {release}: update src/chatkit_backend/sdk_compat.py"


def test_request_models_are_the_protocol_requests() -> None:
    models = set(sdk_compat.request_models())
    expected = set(_union_members(StreamingReq)) | set(_union_members(NonStreamingReq))
    assert models == expected, moved("chatkit.types.ChatKitReq's Annotated union", CHATKIT)
    assert len(models) == 16, moved("the ChatKit request set", CHATKIT)
    assert ChatKitReq is not None


def _union_members(union: Any) -> tuple[type, ...]:
    import typing

    return typing.get_args(union)


async def test_agent_context_events_can_be_routed_into_the_run_queue() -> None:
    context: AgentContext[Any] = AgentContext(
        thread=ThreadMetadata(id="thr_1", created_at=datetime.now()),
        store=MemoryStore(),
        request_context=RequestContext(user_id="u"),
    )
    assert isinstance(context._events, asyncio.Queue), moved("AgentContext._events", CHATKIT)
    early = ProgressUpdateEvent(text="before")
    await context.stream(early)
    queue: asyncio.Queue[Any] = asyncio.Queue()
    sdk_compat.route_context_events(context, queue)
    late = ProgressUpdateEvent(text="after")
    await context.stream(late)  # AgentContext.stream puts into _events
    assert [queue.get_nowait(), queue.get_nowait()] == [early, late], moved(
        "AgentContext.stream writing to AgentContext._events", CHATKIT
    )


def test_run_event_queue_is_what_stream_events_reads() -> None:
    source = inspect.getsource(RunResultStreaming.stream_events)
    assert "self._event_queue.get()" in source, moved(
        "RunResultStreaming.stream_events reading _event_queue", AGENTS
    )
    assert "isinstance(item, QueueCompleteSentinel)" in source, moved(
        "stream_events passing on every queued item but its sentinel", AGENTS
    )
    loop_source = inspect.getsource(run_loop)
    assert "streamed_result._event_queue.put_nowait(RawResponsesStreamEvent(data=event))" in (
        loop_source
    ), moved("the run loop queueing each model event in _event_queue", AGENTS)


def test_chat_completions_model_privates_are_there() -> None:
    from agents import OpenAIChatCompletionsModel
    from agents.models.chatcmpl_stream_handler import ChatCmplStreamHandler
    from openai import AsyncOpenAI

    model = OpenAIChatCompletionsModel("m", AsyncOpenAI(api_key="x", base_url="http://127.0.0.1:9"))
    buffer, strict, client = sdk_compat.chat_completions_stream_setup(model)
    assert (buffer, strict) == (False, False) and client is not None
    for name in (
        "_fetch_response",
        "_attach_stream_request_id",
        "_close_stream_allowing_background_completion",
        "_schedule_async_iterator_close",
        "_populate_stream_generation_span",
        "_handle_unsupported_server_managed_conversation_state",
        "_handle_unsupported_prompt",
    ):
        assert callable(getattr(model, name, None)), moved(
            f"OpenAIChatCompletionsModel.{name}", AGENTS
        )
    fetch = inspect.signature(OpenAIChatCompletionsModel._fetch_response).parameters
    assert list(fetch)[1:10] == [
        "system_instructions",
        "input",
        "model_settings",
        "tools",
        "output_schema",
        "handoffs",
        "span",
        "tracing",
        "stream",
    ], moved("OpenAIChatCompletionsModel._fetch_response's parameters", AGENTS)
    stream_source = inspect.getsource(OpenAIChatCompletionsModel.stream_response)
    assert "ChatCmplStreamHandler.handle_stream(" in stream_source, moved(
        "OpenAIChatCompletionsModel.stream_response's handler", AGENTS
    )
    assert sdk_compat.chat_response_usage(None) is None
    assert callable(getattr(ChatCmplStreamHandler, "_build_response_usage", None))
    with sdk_compat.chat_generation_span(model, __import__("agents").ModelSettings(), _disabled()):
        pass


def _disabled() -> Any:
    from agents import ModelTracing

    return ModelTracing.DISABLED


def test_responses_model_wraps_the_client_stream() -> None:
    from agents.models import openai_responses

    wrapper_class = getattr(openai_responses, "_ResponseStreamWithRequestId", None)
    assert wrapper_class is not None, moved("_ResponseStreamWithRequestId", AGENTS)
    wrapper = wrapper_class(_EmptyStream(), request_id=None, cleanup=_no_cleanup)
    assert sdk_compat.response_stream_source(wrapper) is wrapper._source
    source = inspect.getsource(openai_responses.OpenAIResponsesModel.stream_response)
    assert "await self._fetch_response(" in source and "stream=True" in source, moved(
        "OpenAIResponsesModel.stream_response calling _fetch_response(..., stream=True)", AGENTS
    )


class _EmptyStream:
    def __aiter__(self) -> "_EmptyStream":
        return self

    async def __anext__(self) -> Any:
        raise StopAsyncIteration


async def _no_cleanup() -> None:
    return None


def test_usage_marker_is_there() -> None:
    from agents import usage

    assert callable(getattr(usage, "_mark_request_completed_without_usage", None)), moved(
        "agents.usage._mark_request_completed_without_usage", AGENTS
    )


def test_openai_stream_privates_are_there() -> None:
    from openai import AsyncOpenAI, AsyncStream
    from openai.types.chat import ChatCompletionChunk

    openai_release = f"pinned against {sdk_compat.OPENAI_RELEASE}"
    client = AsyncOpenAI(api_key="x", base_url="http://127.0.0.1:9")
    request = httpx2.Request("GET", "http://127.0.0.1:9")
    stream = AsyncStream(
        cast_to=ChatCompletionChunk, response=httpx2.Response(200, request=request), client=client
    )
    parts = sdk_compat.stream_parts(stream)
    assert parts.cast_to is ChatCompletionChunk and parts.legacy, moved(
        "AsyncStream's options", openai_release
    )
    assert hasattr(stream, "_iterator"), moved("AsyncStream._iterator", openai_release)
    timeouts, errors = sdk_compat.openai_transport_errors()
    assert httpx2.TimeoutException in timeouts and httpx2.RequestError in errors
    source = inspect.getsource(AsyncStream.__stream__)
    assert "process_data = self._client._process_response_data" in source, moved(
        "AsyncStream.__stream__", openai_release
    )
    assert "drain_response_async(response)" in source, moved(
        "AsyncStream's [DONE] drain", openai_release
    )


def test_openai_request_building_privates_are_there() -> None:
    """What ``responder/fast_requests.py`` takes from the client: the transform's
    ``PropertyInfo``, ``make_request_options``, the strict-validation flag, and the two
    ``create()`` methods still sending their transformed parameters with those options."""
    from openai import AsyncOpenAI, AsyncStream, not_given
    from openai.resources.chat.completions import AsyncCompletions
    from openai.resources.responses import AsyncResponses
    from openai.types.responses import ResponseStreamEvent

    openai_release = f"pinned against {sdk_compat.OPENAI_RELEASE}"
    info = sdk_compat.openai_property_info()(alias="a", format="iso8601")
    assert (info.alias, info.format) == ("a", "iso8601"), moved("PropertyInfo", openai_release)
    options = sdk_compat.openai_request_options(
        extra_headers={"h": "1"},
        extra_query={"q": "2"},
        extra_body={"b": 3},
        timeout=not_given,
        security={"bearer_auth": True},
    )
    assert options == {
        "headers": {"h": "1"},
        "params": {"q": "2"},
        "extra_json": {"b": 3},
        "security": {"bearer_auth": True},
    }, moved("make_request_options", openai_release)
    for resource, path in ((AsyncCompletions, "/chat/completions"), (AsyncResponses, "/responses")):
        source = inspect.getsource(resource.create)
        for needle in (
            f'"{path}"',
            "body=await async_maybe_transform(",
            "options=make_request_options(",
            'security={"bearer_auth": True}',
            "stream=stream or False",
        ):
            assert needle in source, moved(f"{resource.__name__}.create ({needle})", openai_release)
    client = AsyncOpenAI(api_key="x", base_url="http://127.0.0.1:9")
    request = httpx2.Request("GET", "http://127.0.0.1:9")
    stream: AsyncStream[Any] = AsyncStream(
        cast_to=cast(Any, ResponseStreamEvent),
        response=httpx2.Response(200, request=request),
        client=client,
    )
    assert sdk_compat.stream_parts(stream).strict is False, moved(
        "_strict_response_validation", openai_release
    )


def test_model_run_cleanup_hook_exists() -> None:
    hook = getattr(InterfaceModel, "_cleanup_on_run_end", None)
    assert hook is not None and inspect.iscoroutinefunction(hook), moved(
        "agents.Model._cleanup_on_run_end", AGENTS
    )
    assert "owner" in inspect.signature(hook).parameters, moved(
        "agents.Model._cleanup_on_run_end(owner)", AGENTS
    )


def test_prompt_cache_key_hook_is_looked_up_on_the_model() -> None:
    from agents.run_internal import prompt_cache_key

    source = inspect.getsource(prompt_cache_key)
    assert '"_supports_default_prompt_cache_key"' in source, moved(
        "the _supports_default_prompt_cache_key model hook", AGENTS
    )


class _Recording(Model):
    def __init__(self) -> None:
        self.cleaned: list[object] = []

    async def get_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise NotImplementedError

    async def _cleanup_on_run_end(self, owner: object) -> None:
        self.cleaned.append(owner)

    def _supports_default_prompt_cache_key(self) -> bool:
        return True


async def test_wrapping_model_passes_the_private_hooks_on() -> None:
    from chatkit_backend.responder.guard import TimeoutModel

    inner = _Recording()
    wrapper = TimeoutModel(inner, first_token_timeout=1, idle_timeout=1)
    owner = object()
    await wrapper._cleanup_on_run_end(owner)
    assert inner.cleaned == [owner]
    assert wrapper._supports_default_prompt_cache_key() is True


async def test_structured_input_submission_is_applied_by_the_sdk() -> None:
    method = getattr(ChatKitServer, "_apply_structured_input_submission", None)
    assert method is not None, moved("ChatKitServer._apply_structured_input_submission", CHATKIT)
    item = StructuredInputItem.model_validate(
        {
            "id": "si_1",
            "thread_id": "thr_1",
            "created_at": datetime.now(),
            "inputs": [
                StructuredInputMultipleChoice.model_validate(
                    {"id": "q1", "question": "Pick", "options": [{"value": "a"}, {"value": "b"}]}
                ).model_dump()
            ],
        }
    )
    submission = StructuredInputSubmission.model_validate(
        {"status": "answered", "answers": {"q1": {"values": ["a", "b"]}}}
    )

    class Server(ChatKitServer[Any]):
        def respond(
            self, thread: ThreadMetadata, item: UserMessageItem | None, context: Any
        ) -> AsyncIterator[Any]:
            raise NotImplementedError

    answered = await sdk_compat.apply_structured_input_submission(
        Server(MemoryStore()), item, submission
    )
    assert answered.status == "answered"
    assert answered.inputs[0].answer is not None
    assert answered.inputs[0].answer.values == ["a"], moved("structured input rules", CHATKIT)


def test_no_private_sdk_name_outside_sdk_compat() -> None:
    """The acceptance check of the seam: no ``._name`` of chatkit or agents elsewhere in src."""
    private = _sdk_private_names()
    offenders = []
    for path in sorted((ROOT / "src" / "chatkit_backend").rglob("*.py")):
        if path.name == "sdk_compat.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            # ``x._name`` on anything but our own ``self``/``cls``; ``self._name`` is ours.
            for name in re.findall(
                r"(?<![\w.])(?!self\.|cls\.)[A-Za-z_][\w]*\.(_[a-z][a-z0-9_]+)", line
            ):
                if name in private:
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {name}")
    assert offenders == [], "SDK private names outside sdk_compat.py:\n" + "\n".join(offenders)


def _sdk_private_names() -> set[str]:
    """Private attribute names (``_x``, not dunders) defined anywhere in chatkit and agents."""
    script = (
        "import chatkit, agents, pathlib, re\n"
        "names = set()\n"
        "for pkg in (chatkit, agents):\n"
        "    for path in pathlib.Path(pkg.__file__).parent.rglob('*.py'):\n"
        "        names.update(re.findall(r'(?:def |self\\.)(_[a-z][a-z0-9_]+)', path.read_text()))\n"
        "print('\\n'.join(sorted(names)))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    return {name for name in output.split() if name} - OUR_OWN_NAMES


# Private-looking names the SDKs happen to use too, which in src belong to other libraries'
# public APIs (SQLAlchemy's ``Row._mapping``), never to an SDK's internals.
OUR_OWN_NAMES: set[str] = {"_mapping", "_asdict", "_replace", "_fields"}


def test_pyproject_caps_both_sdks_below_their_next_minor() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert '"openai-chatkit>=1.6.5,<1.7"' in text
    assert '"openai-agents>=0.24.0,<0.25"' in text


@pytest.mark.parametrize("name", ["CHATKIT_RELEASE", "AGENTS_RELEASE"])
def test_releases_are_named(name: str) -> None:
    assert getattr(sdk_compat, name)


def test_openai_aiohttp_transport_is_there() -> None:
    from openai import DefaultAioHttpClient

    openai_release = f"pinned against {sdk_compat.OPENAI_RELEASE}"
    transport = sdk_compat.AiohttpTransport()
    assert callable(getattr(transport, "get_client", None)), moved(
        "AiohttpTransport.get_client", openai_release
    )
    assert {"limits", "ssl_context", "client"} <= set(vars(transport)), moved(
        "AiohttpTransport's attributes", openai_release
    )
    client = DefaultAioHttpClient(transport=transport)
    assert client._transport is transport, moved(
        "DefaultAioHttpClient(transport=...)", openai_release
    )
