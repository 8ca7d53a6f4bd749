"""``FastResponsesModel``: the Agents SDK's Responses model, at the cost of the wire.

The ``openai`` client builds each streamed event with ``construct_type``, which first
validates the payload against the whole ``ResponseStreamEvent`` union (about 60 models,
~150 µs an event). This subclass reads the same HTTP response through
``wire.stream_batches`` and builds each event as that validation would: a text delta
straight from its JSON when it has exactly the delta's fields (``Cloner``), any other
event by validating it against the one model its ``type`` names. A payload that does not
validate that way (an older server leaving out a field newer releases require) gets what
the client builds then: once its union refuses the payload, the loose ``construct`` of
the model the ``type`` names (its discriminator), built here without first trying the
other 60 models (~0.7 ms a payload); with ``_strict_response_validation``, or any other
payload, the client's own ``construct_type`` object. Everything else (the
request, retries, the SDK's handling of the events) is the SDK's own. Consecutive plain
text deltas that arrived together (one network read), ``MERGE_MIN`` or more, go out as one
event (``merge_ready_deltas``). ``tests/responder/test_fast_models.py`` compares both on the same
recorded streams.
"""

import typing
from collections.abc import AsyncIterator, Callable
from typing import Any

from openai import AsyncStream
from openai.types.responses import ResponseStreamEvent, ResponseTextDeltaEvent
from pydantic import BaseModel, ValidationError

from chatkit_backend import sdk_compat
from chatkit_backend.responder import wire
from chatkit_backend.responder.fast_models import MERGE_MIN, Cloner


def _event_models() -> tuple[dict[str, type[BaseModel]], bool]:
    """``type`` value -> event model, for every member of ``ResponseStreamEvent``; and
    whether each value names one member only (each a ``Literal``), so that a payload one
    member refuses is refused by the whole union."""
    union = typing.get_args(ResponseStreamEvent)[0]
    models: dict[str, type[BaseModel]] = {}
    unique = True
    for model in typing.get_args(union):
        values = typing.get_args(model.model_fields["type"].annotation)
        unique = unique and bool(values) and not any(value in models for value in values)
        for value in values:
            models[value] = model
    return models, unique


EVENT_MODELS, ONE_MODEL_PER_TYPE = _event_models()
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


def build_event(payload: Any, fallback: Callable[[Any], Any], *, loose: bool = False) -> Any:
    """The event the client would build from ``payload`` (``fallback`` is the client's own;
    ``loose``: the client builds what validation refuses with ``construct_type``)."""
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
                if loose and ONE_MODEL_PER_TYPE:
                    return model.construct(**payload)
    return fallback(payload)


async def fast_events(
    stream: AsyncStream[Any], *, merge_ready_deltas: bool = True
) -> AsyncIterator[Any]:
    """The events of a Responses ``AsyncStream`` (not iterated yet), built cheaply.

    With ``merge_ready_deltas``, ``MERGE_MIN`` or more consecutive plain text deltas of
    one content part that one network read brought together are one event: their texts
    joined, the first's sequence number (the same text, one trip through the Agents
    SDK's run loop). Fewer go out as they came.
    """
    fallback = wire.build_like_client(stream)
    parts = sdk_compat.stream_parts(stream)
    loose = not parts.strict and parts.cast_to is ResponseStreamEvent
    batches = wire.stream_batches(stream)
    try:
        async for batch in batches:
            run: list[ResponseTextDeltaEvent] = []  # plain deltas of one part, not sent yet
            for _name, payload in batch:
                event = build_event(payload, fallback, loose=loose)
                if merge_ready_deltas and event.__class__ is ResponseTextDeltaEvent:
                    if (
                        not event.logprobs
                        and not event.model_extra
                        and event.model_fields_set == _TEXT_DELTA_FIELDS
                    ):
                        if run and _same_part(run[0], event):
                            run.append(event)
                            continue
                        for merged in merged_deltas(run):
                            yield merged
                        run = [event]
                        continue
                for merged in merged_deltas(run):
                    yield merged
                run = []
                yield event
            for merged in merged_deltas(run):
                yield merged
    finally:
        await batches.aclose()


def _same_part(first: ResponseTextDeltaEvent, event: ResponseTextDeltaEvent) -> bool:
    return (
        event.item_id == first.item_id
        and event.content_index == first.content_index
        and event.output_index == first.output_index
    )


def merged_deltas(run: list[ResponseTextDeltaEvent]) -> list[ResponseTextDeltaEvent]:
    """The events for consecutive deltas of one content part (``run``, plain: no
    logprobs, no other field): for ``MERGE_MIN`` or more, one with their texts joined and
    the first's sequence number; else ``run`` itself."""
    if len(run) < MERGE_MIN:
        return run
    first = run[0]
    return [
        _TEXT_DELTA.make(
            fields_set=_TEXT_DELTA_FIELDS,
            content_index=first.content_index,
            delta="".join(event.delta for event in run),
            item_id=first.item_id,
            logprobs=[],
            output_index=first.output_index,
            sequence_number=first.sequence_number,
        )
    ]


class FastResponsesModel(sdk_compat.ResponsesStreamHook):
    """``OpenAIResponsesModel`` whose streams skip the client's per-event union validation."""

    def speed_up(self, stream: AsyncStream[Any]) -> None:
        if stream.__class__ is AsyncStream or isinstance(stream, AsyncStream):
            sdk_compat.replace_stream_iterator(stream, fast_events(stream))
