"""Our request handlers answer exactly as the SDK's ``ChatKitServer`` does.

``server/encoding.py``, ``server/operations.py`` and ``server/turns.py`` replace the SDK's
private ``_serialize``, ``_to_thread_response``, ``_process_non_streaming`` and
``_process_streaming_impl``. Each test runs the SDK and ours on the same inputs, over two
stores seeded the same way with the same id sequence, and compares what comes out:
bytes for JSON answers, events for streams (``created_at`` aside: both stamp the time
of the call), and the rows left in the store.
"""

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from chatkit.actions import Action
from chatkit.errors import CustomStreamError
from chatkit.server import ChatKitServer
from chatkit.store import AttachmentStore, StoreItemType
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    Attachment,
    AttachmentCreateParams,
    AudioInput,
    ClientToolCallItem,
    CustomTask,
    FileAttachment,
    HiddenContextItem,
    NonStreamingReq,
    Page,
    StructuredInputFreeform,
    StructuredInputItem,
    StructuredInputMultipleChoice,
    StructuredInputMultipleChoiceOption,
    SyncCustomActionResponse,
    Thread,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    TranscriptionResult,
    UserMessageItem,
    WidgetItem,
    Workflow,
    WorkflowItem,
    WorkflowTaskAdded,
    is_streaming_req,
)
from chatkit.widgets import Card, Text

from chatkit_backend.context import RequestContext
from chatkit_backend.server.dispatch import parse_request
from chatkit_backend.server.encoding import thread_page_json, thread_response, to_json
from chatkit_backend.server.operations import answer
from chatkit_backend.server.turns import prepare_turn
from chatkit_backend.stores import MemoryStore
from tests.stores import samples

ALICE = RequestContext(user_id="alice", request_id="r-1")
T0 = samples.T0


class CountingStore(MemoryStore):
    """A memory store whose ids come from a counter, so two runs give the same ids."""

    def __init__(self) -> None:
        super().__init__()
        self.counter = itertools.count(1)

    def generate_thread_id(self, context: Any) -> str:
        return f"thr_{next(self.counter)}"

    def generate_item_id(
        self, item_type: StoreItemType, thread: ThreadMetadata, context: Any
    ) -> str:
        return f"{item_type}_{next(self.counter)}"


class FileStore(AttachmentStore[Any]):
    """Attachments without bytes: enough for create and delete."""

    def __init__(self) -> None:
        self.deleted: list[str] = []

    async def create_attachment(self, input: AttachmentCreateParams, context: Any) -> Attachment:
        return FileAttachment(id="atc_new", name=input.name, mime_type=input.mime_type)

    async def delete_attachment(self, attachment_id: str, context: Any) -> None:
        self.deleted.append(attachment_id)


class ScriptedServer(ChatKitServer[Any]):
    """A server whose replies and actions are scripts, and which records its hooks' calls."""

    def __init__(
        self, store: CountingStore, script: Callable[..., AsyncIterator[ThreadStreamEvent]]
    ):
        super().__init__(store, FileStore())
        self.script = script
        self.cancelled: list[list[str]] = []
        self.stalled = asyncio.Event()

    def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: Any
    ) -> AsyncIterator[ThreadStreamEvent]:
        return self.script(self, thread, input_user_message)

    def action(
        self,
        thread: ThreadMetadata,
        action: Action[str, Any],
        sender: WidgetItem | None,
        context: Any,
    ) -> AsyncIterator[ThreadStreamEvent]:
        return self.script(self, thread, None)

    async def sync_action(
        self,
        thread: ThreadMetadata,
        action: Action[str, Any],
        sender: WidgetItem | None,
        context: Any,
    ) -> SyncCustomActionResponse:
        return SyncCustomActionResponse(updated_item=sender)

    async def transcribe(self, audio_input: AudioInput, context: Any) -> TranscriptionResult:
        return TranscriptionResult(
            text=f"{len(audio_input.data)} bytes of {audio_input.media_type}"
        )

    async def handle_stream_cancelled(
        self, thread: ThreadMetadata, pending_items: list[Any], context: Any
    ) -> None:
        self.cancelled.append([item.id for item in pending_items])
        await super().handle_stream_cancelled(thread, pending_items, context)


async def reply(
    server: ScriptedServer, thread: ThreadMetadata, message: UserMessageItem | None
) -> AsyncIterator[ThreadStreamEvent]:
    """A reply of every kind of event the pipeline treats specially."""
    store = server.store
    message_id = store.generate_item_id("message", thread, ALICE)
    item = AssistantMessageItem(
        id=message_id,
        thread_id=thread.id,
        created_at=T0,
        content=[AssistantMessageContent(text="")],
    )
    yield ThreadItemAddedEvent(item=item)
    for delta in ["Hel", "lo"]:
        yield ThreadItemUpdatedEvent(
            item_id=message_id,
            update=AssistantMessageContentPartTextDelta(content_index=0, delta=delta),
        )
    yield ThreadItemUpdatedEvent(
        item_id=message_id,
        update=AssistantMessageContentPartDone(
            content_index=0, content=AssistantMessageContent(text="Hello")
        ),
    )
    yield ThreadItemDoneEvent(
        item=item.model_copy(update={"content": [AssistantMessageContent(text="Hello")]})
    )
    hidden = HiddenContextItem(
        id=store.generate_item_id("message", thread, ALICE),
        thread_id=thread.id,
        created_at=T0,
        content="for the model only",
    )
    yield ThreadItemDoneEvent(item=hidden)
    workflow = WorkflowItem(
        id=store.generate_item_id("workflow", thread, ALICE),
        thread_id=thread.id,
        created_at=T0,
        workflow=Workflow(type="custom", tasks=[CustomTask(title="one")]),
    )
    yield ThreadItemAddedEvent(item=workflow)
    yield ThreadItemUpdatedEvent(
        item_id=workflow.id, update=WorkflowTaskAdded(task=CustomTask(title="two"), task_index=1)
    )
    yield ThreadItemDoneEvent(item=workflow)
    yield ThreadItemDoneEvent(
        item=WidgetItem(
            id=store.generate_item_id("message", thread, ALICE),
            thread_id=thread.id,
            created_at=T0,
            widget=Card(children=[Text(value="a widget")]),
        )
    )
    thread.title = "A title from the reply"


async def failing_reply(
    server: ScriptedServer, thread: ThreadMetadata, message: UserMessageItem | None
) -> AsyncIterator[ThreadStreamEvent]:
    async for event in reply(server, thread, message):
        if isinstance(event, ThreadItemDoneEvent) and isinstance(event.item, WorkflowItem):
            raise CustomStreamError("the tool broke", allow_retry=False)
        yield event


async def crashing_reply(
    server: ScriptedServer, thread: ThreadMetadata, message: UserMessageItem | None
) -> AsyncIterator[ThreadStreamEvent]:
    async for event in reply(server, thread, message):
        yield event
        if isinstance(event, ThreadItemDoneEvent):
            raise RuntimeError("unexpected")


def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_times(item) for key, item in value.items() if key != "created_at"}
    if isinstance(value, list):
        return [_without_times(item) for item in value]
    return value


async def _seed(store: CountingStore) -> None:
    await store.save_thread(samples.thread("thr_seed", title="Seeded"), ALICE)
    await store.add_thread_items("thr_seed", samples.every_item_type("thr_seed"), ALICE)
    await store.save_thread(samples.thread("thr_other", created_at=T0), ALICE)
    await store.save_attachment(samples.file_attachment("atc_seed"), ALICE)


async def _pair(
    script: Callable[..., AsyncIterator[ThreadStreamEvent]] = reply,
) -> tuple[ScriptedServer, ScriptedServer]:
    sdk, ours = ScriptedServer(CountingStore(), script), ScriptedServer(CountingStore(), script)
    for server in (sdk, ours):
        assert isinstance(server.store, CountingStore)
        await _seed(server.store)
    return sdk, ours


async def _rows(server: ScriptedServer) -> list[Any]:
    store = server.store
    threads = await store.load_threads(100, None, "asc", ALICE)
    rows: list[Any] = []
    for thread in threads.data:
        items = await store.load_thread_items(thread.id, None, 100, "asc", ALICE)
        rows.append(
            _without_times(
                {
                    "thread": thread.model_dump(mode="json"),
                    "items": [item.model_dump(mode="json") for item in items.data],
                }
            )
        )
    return rows


# -- encoding ---------------------------------------------------------------------------------
def test_to_json_is_the_sdks_serialization() -> None:
    server = ScriptedServer(CountingStore(), reply)
    attachment = samples.image_attachment("atc_i").model_copy(update={"metadata": {"k": "v"}})
    models: list[Any] = [*samples.every_item_type(), samples.thread(), attachment]
    for model in models:
        assert to_json(model) == server._serialize(model), type(model).__name__


def test_thread_response_is_the_sdks() -> None:
    server = ScriptedServer(CountingStore(), reply)
    metadata = samples.locked_thread().model_copy(update={"metadata": {"secret": 1}})
    full = Thread(
        **metadata.model_dump(),
        items=Page(data=samples.every_item_type(metadata.id), has_more=True),
    )
    for thread in (metadata, full):
        theirs = server._to_thread_response(thread.model_copy(deep=True))
        assert to_json(thread_response(thread.model_copy(deep=True))) == server._serialize(theirs)


def test_thread_page_with_full_threads_is_the_sdks() -> None:
    server = ScriptedServer(CountingStore(), reply)
    threads: list[ThreadMetadata] = [
        Thread(
            **samples.thread("thr_a").model_dump(),
            items=Page(data=samples.every_item_type("thr_a")),
        )
    ]
    expected = server._serialize(
        Page(data=[server._to_thread_response(t.model_copy(deep=True)) for t in threads])
    )
    assert thread_page_json(Page(data=threads)) == expected


# -- JSON answers -----------------------------------------------------------------------------
NON_STREAMING: list[dict[str, Any]] = [
    {"type": "threads.get_by_id", "params": {"thread_id": "thr_seed"}},
    {"type": "threads.list", "params": {}},
    {"type": "threads.list", "params": {"limit": 1, "order": "asc"}},
    {"type": "items.list", "params": {"thread_id": "thr_seed", "limit": 50}},
    {"type": "items.list", "params": {"thread_id": "thr_seed", "limit": 3, "order": "desc"}},
    {
        "type": "items.feedback",
        "params": {"thread_id": "thr_seed", "item_ids": ["msg_user"], "kind": "positive"},
    },
    {"type": "threads.update", "params": {"thread_id": "thr_seed", "title": "Renamed"}},
    {"type": "threads.delete", "params": {"thread_id": "thr_other"}},
    {
        "type": "attachments.create",
        "params": {"name": "a.txt", "size": 3, "mime_type": "text/plain"},
    },
    {"type": "attachments.delete", "params": {"attachment_id": "atc_seed"}},
    {
        "type": "input.transcribe",
        "params": {"audio_base64": "AAAA", "mime_type": "audio/webm;codecs=opus"},
    },
    {
        "type": "threads.sync_custom_action",
        "params": {
            "thread_id": "thr_seed",
            "item_id": "wdg_1",
            "action": {"type": "x", "payload": {}},
        },
    },
]


@pytest.mark.parametrize("body", NON_STREAMING, ids=lambda body: str(body["type"]))
async def test_json_answers_are_the_sdks(body: dict[str, Any]) -> None:
    sdk, ours = await _pair()
    request = parse_request(json.dumps(body).encode())
    assert not is_streaming_req(request)
    typed: NonStreamingReq = request
    if body["type"] == "threads.sync_custom_action":
        widget = next(
            item for item in samples.every_item_type("thr_seed") if isinstance(item, WidgetItem)
        )
        typed.params.item_id = widget.id  # type: ignore[union-attr]
    expected = await sdk._process_non_streaming(typed.model_copy(deep=True), ALICE)
    assert await answer(ours, typed.model_copy(deep=True), ALICE) == expected
    assert await _rows(ours) == await _rows(sdk)


# -- streams ----------------------------------------------------------------------------------
async def _sdk_events(server: ScriptedServer, body: dict[str, Any]) -> list[Any]:
    request = parse_request(json.dumps(body).encode())
    return [
        _without_times(json.loads(server._serialize(event)))
        async for event in server._process_streaming_impl(request, ALICE)  # type: ignore[arg-type]
    ]


async def _our_events(server: ScriptedServer, body: dict[str, Any]) -> list[Any]:
    request = parse_request(json.dumps(body).encode())
    events = await prepare_turn(server, request, ALICE)  # type: ignore[arg-type]
    return [_without_times(json.loads(to_json(event))) async for event in events()]


USER_INPUT = {
    "content": [{"type": "input_text", "text": "hi"}],
    "attachments": ["atc_seed"],
    "inference_options": {},
}


async def _add_pending_items(server: ScriptedServer) -> None:
    """A pending client tool call (newest item of thr_other), a pending structured input."""
    await server.store.add_thread_item(
        "thr_seed",
        StructuredInputItem(
            id="si_pending",
            thread_id="thr_seed",
            created_at=T0,
            inputs=[
                StructuredInputMultipleChoice(
                    id="q1",
                    question="Pick",
                    options=[StructuredInputMultipleChoiceOption(value="a")],
                ),
                StructuredInputFreeform(id="q2", question="Why?"),
            ],
        ),
        ALICE,
    )
    await server.store.add_thread_item(
        "thr_other",
        ClientToolCallItem(
            id="tc_pending",
            thread_id="thr_other",
            created_at=T0,
            call_id="call_1",
            name="f",
            arguments={},
        ),
        ALICE,
    )


STREAMS: list[tuple[str, dict[str, Any]]] = [
    ("create", {"type": "threads.create", "params": {"input": USER_INPUT}}),
    (
        "add_user_message",
        {
            "type": "threads.add_user_message",
            "params": {"thread_id": "thr_seed", "input": USER_INPUT},
        },
    ),
    (
        "client_tool_output",
        {
            "type": "threads.add_client_tool_output",
            "params": {"thread_id": "thr_other", "result": {"ok": 1}},
        },
    ),
    (
        "retry",
        {
            "type": "threads.retry_after_item",
            "params": {"thread_id": "thr_seed", "item_id": "msg_user"},
        },
    ),
    (
        "custom_action",
        {
            "type": "threads.custom_action",
            "params": {"thread_id": "thr_seed", "action": {"type": "go", "payload": {}}},
        },
    ),
    (
        "structured_input",
        {
            "type": "threads.add_structured_input",
            "params": {
                "thread_id": "thr_seed",
                "item_id": "si_pending",
                "input": {"answers": {"q1": {"values": ["a", "b"]}, "q2": {"skipped": True}}},
            },
        },
    ),
]


@pytest.mark.parametrize(("name", "body"), STREAMS, ids=[name for name, _ in STREAMS])
@pytest.mark.parametrize("script", [reply, failing_reply, crashing_reply], ids=lambda s: s.__name__)
async def test_streams_are_the_sdks(
    name: str, body: dict[str, Any], script: Callable[..., AsyncIterator[ThreadStreamEvent]]
) -> None:
    sdk, ours = await _pair(script)
    user_message = next(
        item for item in samples.every_item_type("thr_seed") if isinstance(item, UserMessageItem)
    )
    body = json.loads(json.dumps(body).replace("msg_user", user_message.id))
    for server in (sdk, ours):
        await _add_pending_items(server)
    expected = await _sdk_events(sdk, body)
    assert await _our_events(ours, body) == expected
    assert await _rows(ours) == await _rows(sdk)


async def stalling_reply(
    server: ScriptedServer, thread: ThreadMetadata, message: UserMessageItem | None
) -> AsyncIterator[ThreadStreamEvent]:
    """Two deltas of a message, a workflow with a task added, then silence until cancelled."""
    seen = 0
    async for event in reply(server, thread, message):
        yield event
        seen += isinstance(event, ThreadItemUpdatedEvent)
        if seen == 4:  # after the workflow's task was added
            server.stalled.set()
            await asyncio.Event().wait()


async def _consume_until_stalled(server: ScriptedServer, events: AsyncIterator[Any]) -> None:
    """Read events in a task; once it waits on the silent reply, cancel it (a client gone)."""

    async def read() -> None:
        async for _ in events:
            pass

    task = asyncio.create_task(read())
    async with asyncio.timeout(5):
        await server.stalled.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancelled_stream_hands_the_same_pending_items_to_the_server() -> None:
    sdk, ours = await _pair(stalling_reply)
    body = {
        "type": "threads.add_user_message",
        "params": {"thread_id": "thr_seed", "input": USER_INPUT},
    }
    request = parse_request(json.dumps(body).encode())
    await _consume_until_stalled(sdk, sdk._process_streaming_impl(request, ALICE))  # type: ignore[arg-type]
    source = await prepare_turn(ours, request, ALICE)  # type: ignore[arg-type]
    await _consume_until_stalled(ours, source())
    assert sdk.cancelled and sdk.cancelled[0], "the SDK saw no pending item"
    assert ours.cancelled == sdk.cancelled
    assert await _rows(ours) == await _rows(sdk)


def test_every_request_type_is_covered() -> None:
    covered = {body["type"] for body in NON_STREAMING} | {body["type"] for _, body in STREAMS}
    from chatkit_backend.server.dispatch import REQUEST_TYPES

    assert set(REQUEST_TYPES) == covered


# -- where we differ from the SDK on purpose (issue 15's faults) ------------------------------
# Each test runs both and asserts the difference: the SDK's behaviour is the fault.
LATER = timedelta(seconds=1)


async def test_unlike_the_sdk_a_pending_client_tool_call_is_found_past_hidden_items() -> None:
    # Fault a: a hidden item stored after the pending call (context a tool stored, the
    # marker of a turn cancelled after the call) made the thread unable to continue.
    sdk, ours = await _pair()
    for server in (sdk, ours):
        await _add_pending_items(server)
        await server.store.add_thread_item(
            "thr_other",
            HiddenContextItem(
                id="hc_late", thread_id="thr_other", created_at=T0 + LATER, content="late"
            ),
            ALICE,
        )
    body = dict(STREAMS)["client_tool_output"]
    with pytest.raises(ValueError, match="was not a ClientToolCallItem"):
        await _sdk_events(sdk, body)
    events = await _our_events(ours, body)
    assert events[0]["type"] == "stream_options"
    call = await ours.store.load_item("thr_other", "tc_pending", ALICE)
    assert isinstance(call, ClientToolCallItem) and call.status == "completed"


async def renamed_mid_reply(
    server: ScriptedServer, thread: ThreadMetadata, message: UserMessageItem | None
) -> AsyncIterator[ThreadStreamEvent]:
    """The user renames the thread (another request) while the reply streams."""
    stored = await server.store.load_thread(thread.id, ALICE)
    await server.store.save_thread(stored.model_copy(update={"title": "Renamed"}), ALICE)
    async for event in reply(server, thread, message):  # sets its own title at the end
        yield event


async def test_unlike_the_sdk_a_rename_made_while_the_reply_streams_survives_it() -> None:
    # Fault e: the SDK saves the turn's whole copy of the thread, undoing the rename.
    sdk, ours = await _pair(renamed_mid_reply)
    body = dict(STREAMS)["add_user_message"]
    sdk_events, our_events = await _sdk_events(sdk, body), await _our_events(ours, body)
    titles = [
        [e["thread"]["title"] for e in events if e["type"] == "thread.updated"]
        for events in (sdk_events, our_events)
    ]
    assert titles == [["A title from the reply"], ["Renamed"]]
    assert (await sdk.store.load_thread("thr_seed", ALICE)).title == "A title from the reply"
    assert (await ours.store.load_thread("thr_seed", ALICE)).title == "Renamed"
    # Everything else is the same.
    assert [e for e in our_events if e["type"] != "thread.updated"] == [
        e for e in sdk_events if e["type"] != "thread.updated"
    ]


async def titled_then_stalling(
    server: ScriptedServer, thread: ThreadMetadata, message: UserMessageItem | None
) -> AsyncIterator[ThreadStreamEvent]:
    """A first reply that names the thread, then is stopped before it yields again."""
    seen = 0
    async for event in reply(server, thread, message):
        yield event
        seen += isinstance(event, ThreadItemUpdatedEvent)
        if seen == 4:
            thread.title = "Words of the first message"
            server.stalled.set()
            await asyncio.Event().wait()


async def test_unlike_the_sdk_a_cancelled_turn_keeps_its_thread_changes() -> None:
    # Fault d: a stopped first reply left the thread untitled.
    sdk, ours = await _pair(titled_then_stalling)
    request = parse_request(json.dumps(dict(STREAMS)["create"]).encode())
    await _consume_until_stalled(sdk, sdk._process_streaming_impl(request, ALICE))  # type: ignore[arg-type]
    await _consume_until_stalled(ours, (await prepare_turn(ours, request, ALICE))())  # type: ignore[arg-type]
    sdk_titles = [t.title for t in (await sdk.store.load_threads(10, None, "asc", ALICE)).data]
    our_titles = [t.title for t in (await ours.store.load_threads(10, None, "asc", ALICE)).data]
    assert sdk_titles[-1] is None
    assert our_titles[-1] == "Words of the first message"
