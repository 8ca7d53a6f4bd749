"""The fast models yield what the SDK's models yield, object for object, on the same bytes.

Each recorded stream (``recorded_streams.py``) is read twice from the same bytes, split
into network reads at several sizes: once the SDK's way (the ``openai`` client's
``AsyncStream`` objects, then ``ChatCmplStreamHandler`` for Chat Completions) and once
ours (``wire.stream_batches``, ``ChatStreamHandler``, ``fast_events``). The events must
be equal (type, fields, fields set) and end the same way (same exception type and text).

The fast models send consecutive text deltas that one network read brought together as
one event (``merge_ready_deltas``). Without merging the events are the SDK's exactly;
with it they are too once consecutive deltas of a part are joined on both sides
(``merged``, sequence numbers aside), and exactly when every read completes one event.
"""

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from agents import ModelSettings, ModelTracing, OpenAIChatCompletionsModel, OpenAIResponsesModel
from agents.models.chatcmpl_stream_handler import ChatCmplStreamHandler
from agents.models.fake_id import FAKE_RESPONSES_ID
from openai import AsyncOpenAI, AsyncStream
from openai._streaming import SSEDecoder
from openai.types.chat import ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent, ResponseTextDeltaEvent

from chatkit_backend.responder import wire
from chatkit_backend.responder.fast_chat import ChatStreamHandler, FastChatCompletionsModel
from chatkit_backend.responder.fast_models import Cloner
from chatkit_backend.responder.fast_responses import FastResponsesModel, fast_events
from tests.fakes.openai_server import FakeOpenAIServer, Reply, ToolCall
from tests.responder.recorded_streams import CHAT_STREAMS, RESPONSES_STREAMS

CLIENT = AsyncOpenAI(api_key="test", base_url="http://127.0.0.1:9/v1")
SPLITS = [None, 1, 7, 64]  # None: the whole body in one read


class _Body(httpx2.AsyncByteStream):
    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            yield part


def client_stream(body: bytes, split: int | None, cast_to: Any) -> AsyncStream[Any]:
    parts = [body] if split is None else [body[i : i + split] for i in range(0, len(body), split)]
    request = httpx2.Request("POST", "http://127.0.0.1:9/v1/x")
    response = httpx2.Response(
        200, stream=_Body(parts), request=request, headers={"content-type": "text/event-stream"}
    )
    return AsyncStream(cast_to=cast_to, response=response, client=CLIENT)


def described(event: Any) -> tuple[str, Any, list[str]]:
    return type(event).__name__, event.model_dump(), sorted(event.model_fields_set)


async def outcome(events: AsyncIterator[Any]) -> tuple[list[Any], str | None]:
    seen = []
    try:
        async for event in events:
            seen.append(described(event))
    except Exception as exc:
        return seen, f"{type(exc).__name__}: {exc}"
    return seen, None


def base_response() -> Response:
    return Response(
        id=FAKE_RESPONSES_ID,
        created_at=1764000000.0,
        model="gpt-test",
        object="response",
        output=[],
        tool_choice="auto",
        top_p=None,
        temperature=None,
        tools=[],
        parallel_tool_calls=False,
    )


def merged(result: tuple[list[Any], str | None]) -> tuple[list[Any], str | None]:
    """The events with consecutive text deltas of one content part joined into one, and
    no sequence numbers: what merging ready deltas may change, taken out."""
    events: list[Any] = []
    for name, dumped, *rest in result[0]:
        dumped = {key: value for key, value in dumped.items() if key != "sequence_number"}
        previous = events[-1] if events else None
        if (
            name == "ResponseTextDeltaEvent"
            and previous is not None
            and previous[0] == name
            and not dumped.get("logprobs")
            and not previous[1].get("logprobs")
            and all(
                dumped.get(key) == previous[1].get(key)
                for key in ("item_id", "content_index", "output_index")
            )
        ):
            previous[1]["delta"] += dumped["delta"]
            continue
        events.append([name, dumped, *rest])
    return [tuple(event) for event in events], result[1]


def deltas(result: tuple[list[Any], str | None]) -> int:
    return sum(event[0] == "ResponseTextDeltaEvent" for event in result[0])


@pytest.mark.parametrize("merge", [False, True], ids=["one per chunk", "merged"])
@pytest.mark.parametrize("require_finish_reason", [False, True])
@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("name", sorted(CHAT_STREAMS))
async def test_chat_handler_yields_the_sdk_events(
    name: str, split: int | None, require_finish_reason: bool, merge: bool
) -> None:
    body = CHAT_STREAMS[name]
    sdk = await outcome(
        ChatCmplStreamHandler.handle_stream(
            base_response(),
            client_stream(body, split, ChatCompletionChunk),
            model="gpt-test",
            raise_on_length_truncation=True,
            require_finish_reason=require_finish_reason,
        )
    )
    ours = await outcome(
        ChatStreamHandler(
            model="gpt-test",
            strict_feature_validation=False,
            require_finish_reason=require_finish_reason,
            merge_ready_deltas=merge,
        ).handle_stream(base_response(), client_stream(body, split, ChatCompletionChunk))
    )
    if not merge or split == 1:  # one byte a read: never two events ready together
        assert ours == sdk
    assert merged(ours) == merged(sdk)
    assert sdk[0] or sdk[1]  # the stream gave something to compare


@pytest.mark.parametrize("merge", [False, True], ids=["one per payload", "merged"])
@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("name", sorted(RESPONSES_STREAMS))
async def test_responses_events_are_the_clients_objects(
    name: str, split: int | None, merge: bool
) -> None:
    body = RESPONSES_STREAMS[name]
    sdk = await outcome(aiter(client_stream(body, split, ResponseStreamEvent)))
    ours = await outcome(
        fast_events(client_stream(body, split, ResponseStreamEvent), merge_ready_deltas=merge)
    )
    if not merge or split == 1:
        assert ours == sdk
    assert merged(ours) == merged(sdk)
    assert sdk[0]


@pytest.mark.parametrize(
    ("name", "expected"), [("long text", (12, 1)), ("text", None)], ids=["long", "short"]
)
@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_deltas_read_together_are_one_event(
    api: str, name: str, expected: tuple[int, int] | None
) -> None:
    """A reply read in one piece sends its text as one delta (the SDK: one a chunk), when
    it has ``MERGE_MIN`` deltas or more; fewer go out as they came."""
    if api == "chat":
        body = CHAT_STREAMS[name]
        sdk = await outcome(
            ChatCmplStreamHandler.handle_stream(
                base_response(),
                client_stream(body, None, ChatCompletionChunk),
                model="gpt-test",
                raise_on_length_truncation=True,
            )
        )
        ours = await outcome(
            ChatStreamHandler(
                model="gpt-test", strict_feature_validation=False, require_finish_reason=False
            ).handle_stream(base_response(), client_stream(body, None, ChatCompletionChunk))
        )
    else:
        body = RESPONSES_STREAMS[name]
        sdk = await outcome(aiter(client_stream(body, None, ResponseStreamEvent)))
        ours = await outcome(fast_events(client_stream(body, None, ResponseStreamEvent)))
    if expected is None:
        assert ours == sdk
    else:
        assert (deltas(sdk), deltas(ours)) == expected
    assert merged(ours) == merged(sdk)


def test_a_plain_text_delta_is_built_without_validation_yet_equal() -> None:
    cloner = Cloner(
        ResponseTextDeltaEvent,
        content_index=0,
        delta="",
        item_id="",
        output_index=0,
        type="response.output_text.delta",
        sequence_number=0,
        logprobs=[],
    )
    fields: dict[str, Any] = {
        "content_index": 2,
        "delta": "héllo",
        "item_id": "msg",
        "output_index": 1,
        "sequence_number": 9,
        "logprobs": [],
    }
    made = cloner.make(**fields)
    validated = ResponseTextDeltaEvent(type="response.output_text.delta", **fields)
    assert made == validated
    assert made.model_fields_set == validated.model_fields_set
    made.delta = "changed"  # instances share nothing
    assert cloner.make(**fields).delta == "héllo"


# -- the SSE reader ----------------------------------------------------------------------
SSE_CASES = [
    b"data: a\n\ndata: b\n\n",
    b"data: a\r\n\r\ndata: b\r\n\r\n",
    b"data: a\r\rdata: b\r\r",
    b": comment\ndata: x\ndata: y\n\nevent: e\ndata:z\n\n",
    b"id: 7\ndata: a\n\n\n\nretry: 10\n\ndata: b\n\n",
    b"id: bad\x00id\ndata: a\n\nfield-without-colon\ndata: \xc3\xa9t\xc3\xa9\n\ndata: unterminated",
    b"event: only\n\n" + b"data: " + b"x" * 5000 + b"\n\n",
]


@pytest.mark.parametrize("case", range(len(SSE_CASES)))
def test_sse_parser_reads_what_the_client_reads(case: int) -> None:
    body = SSE_CASES[case]
    expected = [(sse.event, sse.data) for sse in SSEDecoder().iter_bytes(iter([body]))]
    for split in range(1, len(body) + 1):
        parser = wire.SSEParser()
        got = []
        for start in range(0, len(body), split):
            got += parser.feed(body[start : start + split])
        got += parser.finish()
        assert got == expected, f"split {split}"


@pytest.mark.parametrize(
    "document",
    [
        '{"a": 1}',
        '{"big": 123456789012345678901234567890}',
        "[NaN, Infinity]",
        '"\\ud800"',
        '{"é": "\\u00e9"}',
        "1e400",
    ],
)
def test_json_reads_like_the_standard_library(document: str) -> None:
    assert repr(wire.loads(document)) == repr(json.loads(document))


def test_json_errors_are_the_standard_librarys() -> None:
    with pytest.raises(json.JSONDecodeError):
        wire.loads("{not json")


# -- the models, end to end against the fake server --------------------------------------
async def model_events(model: Any) -> list[Any]:
    events = []
    async for event in model.stream_response(
        None,
        [{"role": "user", "content": "hi"}],
        ModelSettings(),
        [],
        None,
        [],
        ModelTracing.DISABLED,
    ):
        dumped = json.loads(json.dumps(event.model_dump(), default=str))
        dumped.get("response", {}).pop("created_at", None)
        events.append((type(event).__name__, dumped))
    return events


@pytest.mark.parametrize(
    "reply",
    [
        Reply(text="Hello there friend"),
        Reply(text="", tool_calls=(ToolCall("lookup", {"q": "x"}),)),
        Reply(text="Let me look", tool_calls=(ToolCall("lookup", {"q": "x"}),)),
    ],
    ids=["text", "tool call", "text then tool call"],
)
@pytest.mark.parametrize(
    ("sdk_class", "fast_class"),
    [
        (OpenAIChatCompletionsModel, FastChatCompletionsModel),
        (OpenAIResponsesModel, FastResponsesModel),
    ],
    ids=["chat", "responses"],
)
async def test_fast_models_stream_what_the_sdk_models_stream(
    sdk_class: Any, fast_class: Any, reply: Reply
) -> None:
    with FakeOpenAIServer() as fake:
        client = AsyncOpenAI(api_key="test", base_url=fake.url)
        fake.enqueue(reply, reply)
        sdk = await model_events(sdk_class("m", client))
        fast = await model_events(fast_class("m", client))
        await client.close()
    assert _numbered(merged((fast, None))) == _numbered(merged((sdk, None)))
    assert any(kind == "ResponseCompletedEvent" for kind, _ in sdk)


def _numbered(events: Any) -> str:
    """The events as JSON with the fake server's per-connection numbers taken out."""
    return re.sub(r"fake\d+", "fakeN", json.dumps(events, sort_keys=True))


async def test_fast_model_stream_stops_when_cancelled() -> None:
    with FakeOpenAIServer() as fake:
        client = AsyncOpenAI(api_key="test", base_url=fake.url)
        fake.enqueue(Reply(text="never ends here", stall_after_tokens=1))
        model = FastChatCompletionsModel("m", client)
        stream = model.stream_response(
            None,
            [{"role": "user", "content": "hi"}],
            ModelSettings(),
            [],
            None,
            [],
            ModelTracing.DISABLED,
        )

        async def read() -> None:
            async for _ in stream:
                pass

        task = asyncio.create_task(read())
        assert await asyncio.to_thread(fake.wait_until, lambda: bool(fake.model_requests))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        connection = fake.model_requests[0].connection
        assert await asyncio.to_thread(fake.wait_until, lambda: not connection.is_open)
        await client.close()


@pytest.mark.parametrize(
    "name", ["text", "reasoning (vLLM)", "refusal", "text then tool call", "no finish reason"]
)
@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_fast_models_on_recorded_streams_served_over_http(api: str, name: str) -> None:
    streams = CHAT_STREAMS if api == "chat" else RESPONSES_STREAMS
    if name not in streams:
        name = "text"
    body = streams[name]
    chunks = tuple(body[i : i + 97] for i in range(0, len(body), 97))
    sdk_class, fast_class = (
        (OpenAIChatCompletionsModel, FastChatCompletionsModel)
        if api == "chat"
        else (OpenAIResponsesModel, FastResponsesModel)
    )
    outcomes: list[tuple[list[Any], str | None]] = []
    with FakeOpenAIServer() as fake:
        client = AsyncOpenAI(api_key="test", base_url=fake.url, max_retries=0)
        for model_class in (sdk_class, fast_class):
            fake.enqueue(Reply(raw_chunks=chunks))
            try:
                outcomes.append((await model_events(model_class("gpt-test", client)), None))
            except Exception as exc:
                outcomes.append(([], f"{type(exc).__name__}: {exc}"))
        await client.close()
    assert _numbered(merged(outcomes[1])) == _numbered(merged(outcomes[0]))
