"""The dispatcher: parse once, check references before streaming, then the SDK's handlers."""

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest
from chatkit.server import StreamingResult
from chatkit.store import NotFoundError as StoreNotFoundError
from chatkit.types import ClosedStatus, LockedStatus, ThreadMetadata, is_streaming_req

from chatkit_backend.context import RequestContext
from chatkit_backend.errors import InvalidJSONError, InvalidRequestError, NotFoundError
from chatkit_backend.responder import AgentResponder
from chatkit_backend.server import BackendServer, Dispatcher, parse_request
from chatkit_backend.server.dispatch import REQUEST_TYPES
from chatkit_backend.settings import Settings
from chatkit_backend.stores import MemoryStore
from tests.routes.live_app import (
    add_message_body,
    create_body,
    create_thread,
    make_settings,
    post,
    serve,
)

ALICE = RequestContext(user_id="alice", request_id="r-alice")
BOB = RequestContext(user_id="bob", request_id="r-bob")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[BackendServer]:
    """The default server on a MemoryStore with the offline model at full speed."""
    settings = Settings(data_dir=tmp_path, offline_token_delay=0.0, attachments=False)
    store = MemoryStore()
    await store.open()
    responder = AgentResponder(settings)
    yield BackendServer(store, None, responder=responder)
    await responder.aclose()
    await store.close()


async def _drain(stream: AsyncIterator[bytes]) -> list[dict[str, Any]]:
    return [json.loads(chunk[len(b"data: ") :]) async for chunk in stream]


async def _thread_ids(server: BackendServer, context: RequestContext) -> list[str]:
    page = await server.store.load_threads(100, None, "asc", context)
    return [thread.id for thread in page.data]


def test_every_request_type_parses() -> None:
    assert len(REQUEST_TYPES) == 16
    parsed = parse_request(json.dumps(create_body()).encode())
    assert parsed.type == "threads.create"
    assert parse_request(b'{"type": "threads.list", "params": {}}').type == "threads.list"


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (
            b"{",
            InvalidJSONError,
            "body is not valid JSON: EOF while parsing an object at line 1 column 1",
        ),
        (b"[1]", InvalidRequestError, "body must be a JSON object with a 'type' field"),
        (
            b'{"type": "threads.list", "params": []}',
            InvalidRequestError,
            "invalid threads.list request: params: Input should be an object",
        ),
    ],
)
def test_parse_errors_are_ours(body: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        parse_request(body)
    assert str(caught.value) == message
    assert caught.value.__cause__ is None


async def test_create_streams_sdk_events_as_sse_bytes(server: BackendServer) -> None:
    result = await Dispatcher(server).handle(
        parse_request(json.dumps(create_body()).encode()), ALICE
    )
    assert result.operation == "threads.create"
    assert result.stream is not None and result.json == b""
    chunks = [chunk async for chunk in result.stream()]
    assert all(chunk.startswith(b"data: {") and chunk.endswith(b"}\n\n") for chunk in chunks)
    events = [json.loads(chunk[6:]) for chunk in chunks]
    assert events[0]["type"] == "thread.created"
    assert events[-1]["type"] in {"thread.item.done", "thread.updated"}
    assert await _thread_ids(server, ALICE) == [events[0]["thread"]["id"]]


async def test_create_with_an_unknown_attachment_leaves_no_thread(server: BackendServer) -> None:
    request = parse_request(json.dumps(create_body(attachments=["atc_missing"])).encode())
    with pytest.raises(NotFoundError, match="attachment 'atc_missing' not found"):
        await Dispatcher(server).handle(request, ALICE)
    assert await _thread_ids(server, ALICE) == []


async def test_the_sdk_alone_leaves_an_empty_thread_behind(server: BackendServer) -> None:
    """What the check prevents: ``process`` saves the thread, then fails inside the stream."""
    result = await server.process(json.dumps(create_body(attachments=["atc_missing"])), ALICE)
    assert isinstance(result, StreamingResult)
    received = []
    with pytest.raises(StoreNotFoundError):
        async for chunk in result:
            received.append(chunk)
    assert b'"thread.created"' in received[0]
    orphans = await _thread_ids(server, ALICE)
    assert len(orphans) == 1
    items = await server.store.load_thread_items(orphans[0], None, 10, "asc", ALICE)
    assert items.data == []


async def test_another_users_thread_is_not_found_before_the_stream(server: BackendServer) -> None:
    dispatcher = Dispatcher(server)
    result = await dispatcher.handle(parse_request(json.dumps(create_body()).encode()), ALICE)
    assert result.stream is not None
    thread_id = (await _drain(result.stream()))[0]["thread"]["id"]
    request = parse_request(json.dumps(add_message_body(thread_id)).encode())
    with pytest.raises(NotFoundError, match=f"thread '{thread_id}' not found"):
        await dispatcher.handle(request, BOB)
    items = await server.store.load_thread_items(thread_id, None, 50, "asc", ALICE)
    assert [item.type for item in items.data] == ["user_message", "assistant_message"]


async def test_non_streaming_requests_answer_json_bytes(server: BackendServer) -> None:
    result = await Dispatcher(server).handle(
        parse_request(b'{"type": "threads.list", "params": {}}'), ALICE
    )
    assert result.stream is None
    assert json.loads(result.json) == {"data": [], "has_more": False}


async def test_thread_list_is_byte_for_byte_the_sdks_answer(server: BackendServer) -> None:
    """The dispatcher's fast ``threads.list`` writes exactly what the SDK's handler writes."""
    rows = [
        ThreadMetadata(id="thr_a", created_at=datetime(2025, 1, 1, 12, 0, 0)),
        ThreadMetadata(
            id="thr_b",
            title='Crème brûlée "quoted" \u2028',
            created_at=datetime(2025, 1, 2, tzinfo=UTC),
        ),
        ThreadMetadata(
            id="thr_c",
            title="Locked",
            created_at=datetime(2025, 1, 3, 8, 30, 15, 123456),
            status=LockedStatus(reason="archived"),
            metadata={"secret": "integration-only"},
        ),
        ThreadMetadata(
            id="thr_d",
            created_at=datetime(2025, 1, 4),
            status=ClosedStatus(),
            allowed_image_domains=["a.example"],
        ),
        ThreadMetadata(
            id="thr_é", title="", created_at=datetime(2025, 1, 5), status=LockedStatus()
        ),
    ]
    for row in rows:
        await server.store.save_thread(row, ALICE)
    dispatcher = Dispatcher(server)
    bodies = [
        {"type": "threads.list", "params": {}},
        {"type": "threads.list", "params": {"limit": 2, "order": "asc"}},
        {"type": "threads.list", "params": {"limit": 2, "order": "asc", "after": "thr_b"}},
        {"type": "threads.list", "params": {"limit": 2, "order": "desc", "after": "thr_é"}},
        {"type": "threads.list", "params": {"limit": 0, "order": "desc"}},
    ]
    for body in bodies:
        request = parse_request(json.dumps(body).encode())
        assert not is_streaming_req(request)
        ours = (await dispatcher.handle(request, ALICE)).json
        assert ours == await server._process_non_streaming(request, ALICE), body
    assert b"integration-only" not in ours
    empty = parse_request(b'{"type": "threads.list", "params": {}}')
    assert not is_streaming_req(empty)
    assert (await dispatcher.handle(empty, BOB)).json == await server._process_non_streaming(
        empty, BOB
    )


# -- no TypeAdapter is built per request -------------------------------------------------------
@pytest.fixture
def adapter_count(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Records every pydantic ``TypeAdapter`` built in this process (the server's thread too)."""
    built: list[object] = []
    original = pydantic.TypeAdapter.__init__

    def counting_init(self: pydantic.TypeAdapter[Any], *args: Any, **kwargs: Any) -> None:
        built.append(args[0] if args else kwargs.get("type"))
        original(self, *args, **kwargs)

    monkeypatch.setattr(pydantic.TypeAdapter, "__init__", counting_init)
    yield built


def test_no_type_adapter_is_built_per_request(tmp_path: Path, adapter_count: list[object]) -> None:
    with serve(make_settings(tmp_path, attachments=False)) as (base_url, _):
        thread_id, _events = create_thread(base_url)
        adapter_count.clear()
        for _ in range(25):
            assert post(base_url, {"type": "threads.list", "params": {}}).status_code == 200
            assert (
                post(
                    base_url, {"type": "items.list", "params": {"thread_id": thread_id}}
                ).status_code
                == 200
            )
            assert (
                post(
                    base_url, {"type": "threads.get_by_id", "params": {"thread_id": thread_id}}
                ).status_code
                == 200
            )
        assert post(base_url, {"type": "nope"}).status_code == 422
        assert adapter_count == []


async def test_the_sdk_process_builds_an_adapter_per_call(
    server: BackendServer, adapter_count: list[object]
) -> None:
    """The control for the test above: the counter sees the SDK's per-call adapter."""
    for _ in range(3):
        await server.process(b'{"type": "threads.list", "params": {}}', ALICE)
    assert len(adapter_count) == 3


def test_streams_build_no_request_adapter(tmp_path: Path, adapter_count: list[object]) -> None:
    from chatkit.types import ChatKitReq

    with serve(make_settings(tmp_path, attachments=False)) as (base_url, _):
        create_thread(base_url)
        adapter_count.clear()
        for _ in range(5):
            create_thread(base_url)
        assert ChatKitReq not in adapter_count
        assert httpx.get(base_url + "/healthz").status_code == 200
