"""``FastResponsesModel``: the Agents SDK's Responses model, at the cost of the wire.

The ``openai`` client builds each streamed event with ``construct_type``, which first
validates the payload against the whole ``ResponseStreamEvent`` union (about 60 models,
~150 µs an event). This subclass reads the same HTTP response through
``wire.stream_payloads`` and builds each event as that validation would: a text delta
straight from its JSON when it has exactly the delta's fields (``Cloner``), any other
event by validating it against the one model its ``type`` names. A payload that does not
validate that way gets the client's own ``construct_type`` object. Everything else (the
request, retries, the SDK's handling of the events) is the SDK's own
(``tests/responder/test_fast_responses.py`` compares both on the same recorded streams).
"""

import typing
from collections.abc import AsyncIterator, Callable
from typing import Any

from openai import AsyncStream
from openai.types.responses import ResponseStreamEvent, ResponseTextDeltaEvent
from pydantic import BaseModel, ValidationError

from chatkit_backend import sdk_compat
from chatkit_backend.responder import wire
from chatkit_backend.responder.fast_models import Cloner


def _event_models() -> dict[str, type[BaseModel]]:
    """``type`` value -> event model, for every member of ``ResponseStreamEvent``."""
    union = typing.get_args(ResponseStreamEvent)[0]
    models: dict[str, type[BaseModel]] = {}
    for model in typing.get_args(union):
        for value in typing.get_args(model.model_fields["type"].annotation):
            models[value] = model
    return models


EVENT_MODELS = _event_models()
_TEXT_DELTA = Cloner(
    ResponseTextDeltaEvent,
    content_index=0,
    delta="",
    item_id="",
    output_index=0,
    type="response.output_text.delta",
    sequence_number=0,
    logprobs=[],
)
_TEXT_DELTA_FIELDS = frozenset(ResponseTextDeltaEvent.model_fields)
_TEXT_DELTA_INTS = ("content_index", "output_index", "sequence_number")


def text_delta(payload: dict[str, Any]) -> ResponseTextDeltaEvent | None:
    """The delta event validation would build from ``payload``, or None when the payload
    is not exactly a delta's fields with their plain types (and no logprobs)."""
    if len(payload) != len(_TEXT_DELTA_FIELDS) or not _TEXT_DELTA_FIELDS.issuperset(payload):
        return None
    if payload["logprobs"] != [] or type(payload["logprobs"]) is not list:
        return None
    if type(payload["delta"]) is not str or type(payload["item_id"]) is not str:
        return None
    for name in _TEXT_DELTA_INTS:
        if type(payload[name]) is not int:
            return None
    return _TEXT_DELTA.make(
        fields_set=_TEXT_DELTA_FIELDS,
        content_index=payload["content_index"],
        delta=payload["delta"],
        item_id=payload["item_id"],
        logprobs=[],
        output_index=payload["output_index"],
        sequence_number=payload["sequence_number"],
    )


def build_event(payload: Any, fallback: Callable[[Any], Any]) -> Any:
    """The event the client would build from ``payload`` (``fallback`` is the client's own)."""
    if type(payload) is dict:
        kind = payload.get("type")
        if kind == "response.output_text.delta":
            event = text_delta(payload)
            if event is not None:
                return event
        model = EVENT_MODELS.get(kind) if type(kind) is str else None
        if model is not None:
            try:
                return model.model_validate(payload)
            except ValidationError:
                pass
    return fallback(payload)


async def fast_events(stream: AsyncStream[Any]) -> AsyncIterator[Any]:
    """The events of a Responses ``AsyncStream`` (not iterated yet), built cheaply."""
    fallback = wire.build_like_client(stream)
    async for _name, payload in wire.stream_payloads(stream):
        yield build_event(payload, fallback)


class FastResponsesModel(sdk_compat.ResponsesStreamHook):
    """``OpenAIResponsesModel`` whose streams skip the client's per-event union validation."""

    def speed_up(self, stream: AsyncStream[Any]) -> None:
        if stream.__class__ is AsyncStream or isinstance(stream, AsyncStream):
            sdk_compat.replace_stream_iterator(stream, fast_events(stream))
