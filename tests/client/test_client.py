"""``ChatKitClient`` against a real server: every operation, streamed events, typed errors."""

import httpx
import pytest
from chatkit.types import (
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    AttachmentUploadDescriptor,
    ThreadCreatedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    UserMessageItem,
)
from pydantic import AnyUrl

from chatkit_backend.client import (
    BadRequest,
    ChatKitClient,
    Conflict,
    InvalidRequest,
    MethodNotAllowed,
    NotConfigured,
    NotFound,
    TransportError,
)
from tests.client.conftest import Live
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.live import free_port

OFFLINE_OPENING = "You wrote: “{text}”."


async def test_send_starts_a_thread_and_gathers_the_reply(client: ChatKitClient) -> None:
    reply = await client.send("hello there")

    assert reply.thread_id is not None and reply.thread_id.startswith("thr_")
    assert reply.text.startswith(OFFLINE_OPENING.format(text="hello there"))
    assert reply.title == "hello there"
    assert [type(item) for item in reply.items] == [UserMessageItem, AssistantMessageItem]


async def test_send_with_a_thread_id_continues_that_thread(client: ChatKitClient) -> None:
    first = await client.send("one")
    second = await client.send("two", first.thread_id)

    assert second.thread_id == first.thread_id
    assert second.text.startswith(OFFLINE_OPENING.format(text="two"))
    items = await client.list_items(first.thread_id or "", order="asc")
    assert [item.type for item in items.data] == ["user_message", "assistant_message"] * 2


async def test_create_thread_streams_sdk_events_as_they_arrive(client: ChatKitClient) -> None:
    deltas: list[str] = []
    events = []
    async for event in client.create_thread("stream me"):
        events.append(event)
        if isinstance(event, ThreadItemUpdatedEvent) and isinstance(
            event.update, AssistantMessageContentPartTextDelta
        ):
            deltas.append(event.update.delta)

    assert isinstance(events[0], ThreadCreatedEvent)
    assert len(deltas) > 10  # the offline model streams word by word
    done = [e.item for e in events if isinstance(e, ThreadItemDoneEvent)]
    assert isinstance(done[-1], AssistantMessageItem)
    assert "".join(deltas) == done[-1].content[0].text


async def test_on_text_receives_each_delta_in_order(client: ChatKitClient) -> None:
    pieces: list[str] = []
    reply = await client.send("count the pieces", on_text=pieces.append)

    assert len(pieces) > 10
    assert "".join(pieces) == reply.text


async def test_thread_operations_round_trip(client: ChatKitClient) -> None:
    reply = await client.send("to be renamed")
    thread_id = reply.thread_id or ""

    thread = await client.get_thread(thread_id)
    assert thread.id == thread_id
    assert [item.type for item in thread.items.data] == ["user_message", "assistant_message"]

    renamed = await client.update_thread(thread_id, "A new title")
    assert renamed.title == "A new title"
    listed = await client.list_threads(limit=50)
    assert any(t.id == thread_id and t.title == "A new title" for t in listed.data)

    assistant = next(item for item in reply.items if isinstance(item, AssistantMessageItem))
    await client.feedback(thread_id, [assistant.id], "positive")

    await client.delete_thread(thread_id)
    with pytest.raises(NotFound) as caught:
        await client.get_thread(thread_id)
    assert caught.value.status == 404
    assert caught.value.code == "not_found"
    assert caught.value.message == f"thread {thread_id!r} not found"


async def test_list_threads_pages_with_after(client: ChatKitClient) -> None:
    for text in ("page a", "page b", "page c"):
        await client.send(text)
    first = await client.list_threads(limit=2, order="desc")
    assert first.has_more and first.after == first.data[-1].id
    second = await client.list_threads(limit=2, after=first.after, order="desc")

    assert {t.id for t in first.data}.isdisjoint({t.id for t in second.data})


async def test_retry_after_item_answers_the_user_message_again(client: ChatKitClient) -> None:
    reply = await client.send("retry me")
    user_item = next(item for item in reply.items if isinstance(item, UserMessageItem))

    events = [event async for event in client.retry_after_item(reply.thread_id or "", user_item.id)]

    done = [e.item for e in events if isinstance(e, ThreadItemDoneEvent)]
    assert isinstance(done[-1], AssistantMessageItem)
    assert done[-1].content[0].text.startswith(OFFLINE_OPENING.format(text="retry me"))


async def test_error_before_the_stream_raises_when_iteration_starts(client: ChatKitClient) -> None:
    stream = client.add_user_message("thr_missing", "hello?")

    with pytest.raises(NotFound) as caught:
        await anext(stream)
    assert caught.value.message == "thread 'thr_missing' not found"
    assert caught.value.request_id


async def test_request_id_matches_the_response_header(live: Live) -> None:
    async with live.client(headers={"X-Request-ID": "client-test-42"}) as client:
        with pytest.raises(NotFound) as caught:
            await client.get_thread("thr_nope")
    assert caught.value.request_id == "client-test-42"


async def test_invalid_cursor_is_a_bad_request_with_the_store_code(client: ChatKitClient) -> None:
    with pytest.raises(BadRequest) as caught:
        await client.list_threads(after="thr_gone")
    assert (caught.value.status, caught.value.code) == (400, "invalid_page")
    assert caught.value.message == "after: no thread 'thr_gone' to continue from"


async def test_client_tool_output_without_a_pending_call_is_a_conflict(
    client: ChatKitClient,
) -> None:
    reply = await client.send("no tools here")

    with pytest.raises(Conflict) as caught:
        await anext(client.add_client_tool_output(reply.thread_id or "", {"ok": True}))
    assert caught.value.status == 409
    assert caught.value.message == f"thread {reply.thread_id!r} has no pending client tool call"


async def test_structured_input_for_a_user_message_is_invalid(client: ChatKitClient) -> None:
    reply = await client.send("not a form")
    user_item = next(item for item in reply.items if isinstance(item, UserMessageItem))

    with pytest.raises(InvalidRequest) as caught:
        await anext(
            client.add_structured_input(reply.thread_id or "", user_item.id, {"answers": {}})
        )
    assert caught.value.status == 422
    assert (
        caught.value.message == f"params.item_id: item {user_item.id!r} is not a structured input"
    )


async def test_custom_action_on_a_missing_thread_is_not_found(client: ChatKitClient) -> None:
    with pytest.raises(NotFound):
        await anext(client.custom_action("thr_absent", "do.something", {"x": 1}))


async def test_sync_custom_action_the_server_lacks_is_not_configured(client: ChatKitClient) -> None:
    reply = await client.send("actions?")

    with pytest.raises(NotConfigured) as caught:
        await client.sync_custom_action(reply.thread_id or "", "do.something")
    assert (caught.value.status, caught.value.code) == (501, "not_configured")


async def test_transcribe_without_a_transcription_model_is_not_configured(
    client: ChatKitClient,
) -> None:
    with pytest.raises(NotConfigured) as caught:
        await client.transcribe(b"RIFF....WAVE", "audio/wav")
    assert caught.value.message.startswith(
        "transcription is not configured: set CHATKIT_TRANSCRIPTION_MODEL"
    )


async def test_two_phase_upload_then_download_and_delete(client: ChatKitClient) -> None:
    data = b"notes for the model\n" * 10
    attachment = await client.create_attachment("notes.txt", len(data), "text/plain")
    assert attachment.upload_descriptor is not None

    uploaded = await client.upload_attachment(attachment, data)
    assert (
        uploaded is not None and uploaded.id == attachment.id and uploaded.upload_descriptor is None
    )
    assert await client.download_attachment(attachment.id) == data
    reply = await client.send("read my notes", attachments=[attachment.id])
    assert reply.text

    await client.delete_attachment(attachment.id)
    with pytest.raises(NotFound):
        await client.download_attachment(attachment.id)


async def test_an_upload_to_another_host_never_carries_our_credentials(live: Live) -> None:
    with FakeOpenAIServer() as bucket:
        descriptor = AttachmentUploadDescriptor(
            url=AnyUrl(f"{bucket.url}/bucket/object"),
            method="PUT",
            headers={"x-amz-acl": "private"},
        )
        async with live.client(api_key="our-secret", headers={"X-Tenant": "t1"}) as client:
            with pytest.raises(MethodNotAllowed):  # the fake bucket answers 405 to PUT
                await client.upload_attachment(descriptor, b"data", name="a.txt")
        sent = bucket.requests_to("/bucket/object")

    assert len(sent) == 1
    headers = {name.lower(): value for name, value in sent[0].headers.items()}
    assert headers["x-amz-acl"] == "private"
    assert "authorization" not in headers and "x-tenant" not in headers
    assert b'filename="a.txt"' in sent[0].body


async def test_direct_upload_returns_the_attachment(client: ChatKitClient) -> None:
    attachment = await client.upload_direct("hello.txt", b"hello", "text/plain")

    assert attachment.name == "hello.txt"
    assert attachment.mime_type == "text/plain"
    assert await client.download_attachment(attachment.id) == b"hello"


async def test_wrong_path_is_method_not_allowed_with_the_server_message(live: Live) -> None:
    async with ChatKitClient(live.url, path="/healthz") as client:
        with pytest.raises(MethodNotAllowed) as caught:
            await client.list_threads()
    assert caught.value.status == 405
    assert caught.value.message == "method POST is not allowed on /healthz"


async def test_unreachable_server_is_a_transport_error() -> None:
    async with ChatKitClient(f"http://127.0.0.1:{free_port()}", timeout=2.0) as client:
        with pytest.raises(TransportError) as caught:
            await client.list_threads()
    assert caught.value.status is None
    assert "ConnectError" in caught.value.message


async def test_asgi_transport_runs_the_app_in_process(live: Live) -> None:
    async with live.client() as over_http:
        created = await over_http.send("made over HTTP")
    transport = httpx.ASGITransport(app=live.app)
    async with ChatKitClient("http://in-process", transport=transport) as client:
        page = await client.list_threads(limit=1)
    assert [thread.id for thread in page.data] == [created.thread_id]  # same store, no network
