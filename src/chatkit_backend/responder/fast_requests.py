"""``ModelClient``: the ``openai`` client, without its per-request parameter transform.

``chat.completions.create()`` and ``responses.create()`` first run their parameters
through ``async_maybe_transform``, which walks the data against the parameters'
``TypedDict`` types (key aliases, date and file formats): about a millisecond per model
request, a sixth of a reply's fixed cost. For the two parameter types used here the
transform renames nothing and formats nothing (no ``PropertyInfo`` with an alias or a
format anywhere in them: ``transform_is_identity`` checks it once), so on plain JSON data
(dicts with string keys, lists, strings, numbers, booleans, None: what the Agents SDK
builds) its result is the data itself, less the omitted parameters; a parameter given as
a pydantic model (the SDK's ``reasoning``) becomes its ``model_dump`` as the transform
makes it.

``ModelClient.chat.completions.create`` and ``ModelClient.responses.create`` send such
data as it is, through the client's own ``post`` with the options ``create()`` gives
(headers, query, extra body, timeout, auth), so the retries, headers, timeouts, error
mapping and the objects returned are the client's. Anything else (a pydantic model or a
tuple inside the data, an unknown or missing parameter, another ``openai`` release whose
types transform something) takes ``create()`` itself. ``tests/responder/test_fast_requests.py``
sends the same inputs both ways to a real HTTP server and compares the requests byte for
byte.
"""

import inspect
import typing
from collections.abc import Mapping
from functools import cache, cached_property
from typing import Any, cast

from openai import AsyncOpenAI, AsyncStream, NotGiven, Omit, not_given
from openai.resources.chat import AsyncChat
from openai.resources.chat.completions import AsyncCompletions
from openai.resources.responses import AsyncResponses
from openai.types.chat import ChatCompletion, ChatCompletionChunk, completion_create_params
from openai.types.responses import Response, ResponseStreamEvent, response_create_params
from pydantic import BaseModel

from chatkit_backend import sdk_compat

_PLAIN = frozenset({str, int, float, bool, type(None)})
_REQUEST_OPTIONS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout"})


def is_plain(value: object) -> bool:
    """True for JSON data made of dicts with string keys, lists, strings, numbers,
    booleans and None only (exact types: no subclass, tuple, model or omitted value)."""
    kind = type(value)
    if kind is dict:
        return all(
            type(key) is str and is_plain(item)
            for key, item in value.items()  # type: ignore[attr-defined]
        )
    if kind is list:
        return all(is_plain(item) for item in value)  # type: ignore[attr-defined]
    return kind in _PLAIN


@cache
def transform_is_identity(params_type: object) -> bool:
    """True when ``openai``'s transform of ``params_type`` renames no key and formats no
    value: no ``PropertyInfo`` alias or format anywhere in the type (walked once)."""
    info_type = sdk_compat.openai_property_info()
    seen: set[int] = set()
    pending = [params_type]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for meta in getattr(current, "__metadata__", ()):  # Annotated[...]
            if isinstance(meta, info_type) and (meta.alias or meta.format):
                return False
        if typing.is_typeddict(current):
            pending.extend(typing.get_type_hints(current, include_extras=True).values())
        pending.extend(typing.get_args(current))
        origin = getattr(current, "__origin__", None)
        if origin is not None:
            pending.append(origin)
    return True


def _names(create: Any) -> list[str]:
    """The keyword parameters of an (unbound) ``create``, in order."""
    return [name for name in inspect.signature(create).parameters if name != "self"]


class _PlainCreate:
    """What a fast ``create`` needs to know of the slow one."""

    def __init__(
        self,
        resource: Any,
        params_type: object,
        required: dict[str, Any],
    ) -> None:
        self.resource_class: Any = cast(Any, type(resource).__mro__[1])  # the openai resource
        self.client = resource.model_client
        self.names = frozenset(_names(self.resource_class.create))
        self.body_names = [
            name for name in _names(self.resource_class.create) if name not in _REQUEST_OPTIONS
        ]
        self.params_type = params_type
        self.required = required
        """Required parameters, with a value to probe ``create`` with."""
        self.order: tuple[str, ...] | None = None
        """The order of the body's keys, as ``create`` builds it (found at first use)."""

    def body(self, kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
        """The request body ``create(**kwargs)`` would send, or None when ``create`` must
        build it (data that is not plain, a name it does not take, a required one missing).
        Its keys are in ``kwargs``' order (``ordered`` puts them in ``create``'s)."""
        if not transform_is_identity(self.params_type):
            return None
        body: dict[str, Any] = {}
        for name, value in kwargs.items():
            if name in _REQUEST_OPTIONS:
                continue
            if name not in self.names:
                return None
            if isinstance(value, Omit | NotGiven):
                continue
            if isinstance(value, BaseModel):  # a parameter given as a model (``reasoning``)
                value = sdk_compat.openai_model_json(value)
            if not is_plain(value):
                return None
            body[name] = value
        if any(name not in body for name in self.required):
            return None
        return body

    async def ordered(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` with its keys in the order ``create`` sends them (the same bytes)."""
        order = self.order
        if order is None:
            order = self.order = await sdk_compat.openai_body_order(
                self.resource_class, self.client, self.body_names, self.required
            )
        ordered = {name: body[name] for name in order if name in body}
        if len(ordered) != len(body):  # a name create() does not put in its dict
            ordered.update(body)
        return ordered


def _options(kwargs: Mapping[str, Any]) -> Any:
    """The request options ``create()`` passes to ``post``."""
    return sdk_compat.openai_request_options(
        extra_headers=kwargs.get("extra_headers"),
        extra_query=kwargs.get("extra_query"),
        extra_body=kwargs.get("extra_body"),
        timeout=kwargs.get("timeout", not_given),
        security={"bearer_auth": True},
    )


class FastCompletions(AsyncCompletions):
    """``chat.completions`` whose ``create`` sends plain parameters without the transform."""

    def __init__(self, client: AsyncOpenAI) -> None:
        super().__init__(client)
        self.model_client = client
        self.plain = _PlainCreate(
            self,
            completion_create_params.CompletionCreateParamsStreaming,
            {"messages": [], "model": ""},
        )

    async def create(self, **kwargs: Any) -> Any:
        """``AsyncCompletions.create``: the same request, the same result."""
        body = self.plain.body(kwargs)
        if body is None:
            return await super().create(**kwargs)
        return await self.model_client.post(
            "/chat/completions",
            body=await self.plain.ordered(body),
            options=_options(kwargs),
            cast_to=ChatCompletion,
            stream=body.get("stream") or False,
            stream_cls=AsyncStream[ChatCompletionChunk],
        )


class FastChat(AsyncChat):
    """``client.chat`` with ``FastCompletions``."""

    @cached_property
    def completions(self) -> AsyncCompletions:
        return FastCompletions(self.model_client)

    def __init__(self, client: AsyncOpenAI) -> None:
        super().__init__(client)
        self.model_client = client


class FastResponses(AsyncResponses):
    """``client.responses`` whose ``create`` sends plain parameters without the transform."""

    def __init__(self, client: AsyncOpenAI) -> None:
        super().__init__(client)
        self.model_client = client
        self.plain = _PlainCreate(self, response_create_params.ResponseCreateParamsStreaming, {})

    async def create(self, **kwargs: Any) -> Any:
        """``AsyncResponses.create``: the same request, the same result."""
        body = self.plain.body(kwargs)
        if body is None:
            return await super().create(**kwargs)
        return await self.model_client.post(
            "/responses",
            body=await self.plain.ordered(body),
            options=_options(kwargs),
            cast_to=Response,
            stream=body.get("stream") or False,
            stream_cls=AsyncStream[ResponseStreamEvent],
        )


class ModelClient(AsyncOpenAI):
    """``AsyncOpenAI`` whose ``chat.completions.create`` and ``responses.create`` skip the
    parameter transform when it would change nothing (see the module docstring)."""

    @property
    def user_agent(self) -> str:
        """The client's own (``AsyncOpenAI/Python <release>``): it names the class."""
        return super().user_agent.replace(type(self).__name__, AsyncOpenAI.__name__, 1)

    @cached_property
    def chat(self) -> AsyncChat:
        return FastChat(self)

    @cached_property
    def responses(self) -> AsyncResponses:
        return FastResponses(self)
