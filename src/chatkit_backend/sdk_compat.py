"""Every use of a private name (or undocumented behaviour) of ``chatkit`` and ``agents``
(and of ``openai``, whose streams the fast models read).

Nothing else in ``src/`` touches an SDK's private names: when an SDK release moves one,
this module is the one place to change, and ``tests/test_sdk_compat.py`` says which name
moved and in which release. ``pyproject.toml`` caps both SDKs below their next minor
release, so an upgrade is a deliberate step that runs those tests.

Pinned against ``openai-chatkit`` 1.6, ``openai-agents`` 0.24 and ``openai`` 3.57.
"""

import asyncio
import contextlib
import typing
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from agents import Model, OpenAIResponsesModel, RunResultStreaming
from chatkit.agents import AgentContext
from chatkit.server import ChatKitServer
from chatkit.types import (
    ChatKitReq,
    StructuredInputItem,
    StructuredInputSubmission,
)
from openai._vendor.httpx_aiohttp import AiohttpTransport
from pydantic import BaseModel

CHATKIT_RELEASE = "openai-chatkit 1.6"
AGENTS_RELEASE = "openai-agents 0.24"
OPENAI_RELEASE = "openai 3.57"


# -- chatkit ------------------------------------------------------------------------------
def request_models() -> tuple[type[BaseModel], ...]:
    """Every request model of the ChatKit protocol, from the ``ChatKitReq`` union.

    ``ChatKitReq`` is ``Annotated[StreamingReq | NonStreamingReq, Field(discriminator="type")]``
    in ``chatkit.types``; its shape is not part of the SDK's documented API.
    """
    union, *_ = typing.get_args(ChatKitReq)
    return tuple(typing.get_args(union))


async def apply_structured_input_submission(
    server: ChatKitServer[Any], item: StructuredInputItem, submission: StructuredInputSubmission
) -> StructuredInputItem:
    """The structured input item with the user's answers, as the SDK records them.

    ``ChatKitServer._apply_structured_input_submission`` holds the SDK's rules (skipped
    answers, single-choice questions keep one value); using it keeps ours identical.
    """
    return await server._apply_structured_input_submission(item, submission)


# -- agents -------------------------------------------------------------------------------
class WrappingModel(Model):
    """Base of a ``Model`` that wraps another one (``self.inner``).

    The Agents SDK calls two private hooks on the model of a run, which a wrapper must
    pass on to the model it wraps: ``_cleanup_on_run_end`` (run-scoped resources, called by
    the run loop) and ``_supports_default_prompt_cache_key`` (looked up with ``getattr`` when
    building model settings). ``model`` (the model name, read with ``getattr`` by the SDK's
    sandbox agents) is forwarded too.
    """

    inner: Model

    @property
    def model(self) -> Any:
        return getattr(self.inner, "model", None)

    async def _cleanup_on_run_end(self, owner: object) -> None:
        await self.inner._cleanup_on_run_end(owner)

    def _supports_default_prompt_cache_key(self) -> bool:
        supports = getattr(self.inner, "_supports_default_prompt_cache_key", None)
        return bool(supports()) if callable(supports) else False


# -- agents: the streamed run and the OpenAI models (the fast models of responder/) ---------
def run_event_queue(result: RunResultStreaming) -> "asyncio.Queue[Any]":
    """The queue ``RunResultStreaming.stream_events`` reads (``_event_queue``).

    The responder's converter looks at it to tell whether more events are ready (to send
    text deltas that arrived together as one event) and routes the ``AgentContext``'s
    events into it (``route_context_events``), so one reader sees both in arrival order.
    """
    return result._event_queue


def route_context_events(agent_context: AgentContext[Any], queue: "asyncio.Queue[Any]") -> None:
    """Make ``AgentContext.stream`` (and ``stream_widget``, workflows) put into ``queue``.

    The context's own queue is the private ``AgentContext._events``; ``stream_agent_response``
    merges it with the run's events with a task per event. Putting both into the run's
    queue gives the same events, in the order they were produced, with no task.
    """
    pending: list[Any] = []
    while not agent_context._events.empty():
        pending.append(agent_context._events.get_nowait())
    agent_context._events = queue
    for event in pending:
        queue.put_nowait(event)


def chat_completions_stream_setup(model: Any) -> tuple[bool, bool, Any]:
    """``OpenAIChatCompletionsModel``'s stream options: (buffer streamed tool calls, strict
    feature validation, client), from its private attributes."""
    return model._buffer_streamed_tool_calls, model._strict_feature_validation, model._client


def check_chat_completions_request(
    model: Any, previous_response_id: str | None, conversation_id: str | None, prompt: Any
) -> None:
    """What ``OpenAIChatCompletionsModel.stream_response`` checks first: server-managed
    conversation state and prompts are refused (strict) or warned about once."""
    model._handle_unsupported_server_managed_conversation_state(
        previous_response_id=previous_response_id, conversation_id=conversation_id
    )
    model._handle_unsupported_prompt(prompt)


@contextlib.contextmanager
def chat_generation_span(model: Any, model_settings: Any, tracing: Any) -> Iterator[Any]:
    """The generation span ``OpenAIChatCompletionsModel.stream_response`` opens, with its
    error recording (``agents.models._trace``, ``agents.util._error_tracing``)."""
    from agents.models._trace import model_config_for_trace
    from agents.tracing import generation_span
    from agents.util._error_tracing import model_span_errors

    with (
        generation_span(
            model=str(model.model),
            model_config=model_config_for_trace(
                model_settings, tracing, base_url=model._client.base_url
            ),
            disabled=tracing.is_disabled(),
        ) as span,
        model_span_errors(
            span,
            message="Error streaming response",
            trace_include_sensitive_data=tracing.include_data(),
        ),
    ):
        yield span


async def fetch_chat_completions_stream(model: Any, *args: Any, **kwargs: Any) -> Any:
    """``OpenAIChatCompletionsModel._fetch_response(..., stream=True)``: the synthesized
    ``Response`` and the client's ``AsyncStream`` of chunks (not iterated yet)."""
    return await model._fetch_response(*args, **kwargs)


def attach_stream_request_id(model: Any, response: Any, stream: Any) -> None:
    """``OpenAIChatCompletionsModel._attach_stream_request_id``: the ``x-request-id`` header
    onto the synthesized response."""
    model._attach_stream_request_id(response, stream)


async def close_model_stream(model: Any, stream: Any) -> None:
    """``_close_stream_allowing_background_completion``: close the provider stream."""
    await model._close_stream_allowing_background_completion(stream)


def schedule_model_stream_close(model: Any, stream: Any) -> None:
    """``_schedule_async_iterator_close``: close the provider stream in the background."""
    model._schedule_async_iterator_close(stream)


def populate_stream_span(model: Any, span: Any, response: Any, tracing: Any) -> None:
    """``_populate_stream_generation_span``: usage and output onto the generation span."""
    model._populate_stream_generation_span(span, response, tracing)


def chat_response_usage(usage: Any) -> Any:
    """``ChatCmplStreamHandler._build_response_usage``: Chat Completions usage as the
    Responses ``ResponseUsage`` (None for None)."""
    from agents.models.chatcmpl_stream_handler import ChatCmplStreamHandler

    return ChatCmplStreamHandler._build_response_usage(usage)


def mark_request_completed_without_usage(response: Any) -> None:
    """``agents.usage._mark_request_completed_without_usage``: count the request of a
    response that reported no usage."""
    from agents import usage

    usage._mark_request_completed_without_usage(response)


def response_stream_source(wrapper: Any) -> Any:
    """The client stream inside the Responses model's stream wrapper
    (``_ResponseStreamWithRequestId._source``), or None for another object."""
    if type(wrapper).__name__ != "_ResponseStreamWithRequestId":
        return None
    return wrapper._source


class ResponsesStreamHook(OpenAIResponsesModel):
    """An ``OpenAIResponsesModel`` that sees each client stream before the SDK reads it.

    ``stream_response`` gets its stream from the private ``_fetch_response(...,
    stream=True)``, wrapped in ``_ResponseStreamWithRequestId``; this override hands the
    client's ``AsyncStream`` inside to ``speed_up`` first, untouched otherwise.
    """

    async def _fetch_response(self, *args: Any, **kwargs: Any) -> Any:
        result = await super()._fetch_response(*args, **kwargs)
        if kwargs.get("stream"):
            source = response_stream_source(result)
            if source is not None:
                self.speed_up(source)
        return result

    def speed_up(self, stream: Any) -> None:
        """Called with the client's stream before anything reads it."""


# -- openai: the client's stream, read without its per-chunk object building -------------
# ``AiohttpTransport`` (imported above from the private ``openai._vendor.httpx_aiohttp``) is
# the transport of ``openai.DefaultAioHttpClient``; ``responder/http_client.py`` extends it.
@dataclass(frozen=True, slots=True)
class StreamParts:
    """What ``openai.AsyncStream.__stream__`` works with, from its private attributes."""

    response: Any
    process: Any
    cast_to: Any
    legacy: bool
    synthesize_event_and_data: bool
    strict: bool
    """The client validates what it receives (``_strict_response_validation``) rather than
    building it loosely (``construct_type``) when validation fails."""


def stream_parts(stream: Any) -> StreamParts:
    """The HTTP response, object builder and options of an ``openai.AsyncStream``."""
    options = stream._options
    return StreamParts(
        response=stream.response,
        process=stream._client._process_response_data,
        cast_to=stream._cast_to,
        legacy=options is None or options.stream_mode == "legacy",
        synthesize_event_and_data=bool(options is not None and options.synthesize_event_and_data),
        strict=bool(stream._client._strict_response_validation),
    )


def replace_stream_iterator(stream: Any, iterator: AsyncIterator[Any]) -> None:
    """Make an ``openai.AsyncStream`` (not iterated yet) yield ``iterator``'s items: its
    ``__anext__``/``__aiter__`` read ``_iterator``, created unstarted in ``__init__``."""
    stream._iterator = iterator


def openai_transport_errors() -> tuple[
    tuple[type[BaseException], ...], tuple[type[BaseException], ...]
]:
    """The exceptions ``openai.AsyncStream`` maps to ``APITimeoutError`` and
    ``APIConnectionError`` while reading (``openai._httpx2``)."""
    from openai import _httpx2

    return _httpx2.timeout_exceptions(), _httpx2.request_exceptions()


def openai_property_info() -> type[Any]:
    """``openai._utils._transform.PropertyInfo``: the ``Annotated`` metadata by which the
    client's parameter transform renames keys (``alias``) and formats values (``format``)."""
    from openai._utils._transform import PropertyInfo

    return PropertyInfo


def openai_request_options(**options: Any) -> Any:
    """``openai._base_client.make_request_options``: the request options a resource's
    ``create()`` passes to the client's ``post`` (headers, query, extra body, timeout, auth)."""
    from openai._base_client import make_request_options

    return make_request_options(**options)


def openai_model_json(model: BaseModel) -> Any:
    """What the ``openai`` client's parameter transform makes of a pydantic model it meets
    (``_transform_recursive``: ``model_dump`` in JSON mode, unset fields and the model's
    ``__api_exclude__`` left out)."""
    return model.model_dump(
        mode="json", exclude=getattr(model, "__api_exclude__", None), exclude_unset=True
    )


async def openai_body_order(
    resource_class: type[Any], client: Any, names: list[str], required: dict[str, Any]
) -> tuple[str, ...]:
    """The order of the keys of the body ``resource_class.create`` sends: the order of the
    parameter dict it builds (not its signature's), read by calling ``create`` once on a
    throwaway resource whose private ``_post`` keeps the body instead of sending it."""
    probe = resource_class(client)
    kept: dict[str, Any] = {}

    async def post(path: str, *, body: Any = None, **options: Any) -> None:
        kept.update(body or {})

    probe._post = post
    await probe.create(**{**dict.fromkeys(names), **required})
    return tuple(kept)


async def drain_openai_response(response: Any) -> None:
    """What ``openai.AsyncStream`` does at ``[DONE]`` on HTTP/1.1: read the rest of the body
    (bounded) so the connection can be reused (``openai._streaming_cleanup``)."""
    from openai import _streaming_cleanup

    await _streaming_cleanup.drain_response_async(response)


__all__ = [
    "AGENTS_RELEASE",
    "CHATKIT_RELEASE",
    "OPENAI_RELEASE",
    "AiohttpTransport",
    "ResponsesStreamHook",
    "StreamParts",
    "WrappingModel",
    "apply_structured_input_submission",
    "attach_stream_request_id",
    "chat_completions_stream_setup",
    "chat_generation_span",
    "chat_response_usage",
    "check_chat_completions_request",
    "close_model_stream",
    "drain_openai_response",
    "fetch_chat_completions_stream",
    "mark_request_completed_without_usage",
    "openai_body_order",
    "openai_model_json",
    "openai_property_info",
    "openai_request_options",
    "openai_transport_errors",
    "populate_stream_span",
    "replace_stream_iterator",
    "request_models",
    "response_stream_source",
    "route_context_events",
    "run_event_queue",
    "schedule_model_stream_close",
    "stream_parts",
]
