"""Typed errors from real servers: auth, rate limits, mid-stream model failures, timeouts."""

from pathlib import Path

import pytest
from chatkit.types import ErrorEvent

from chatkit_backend.client import (
    RateLimited,
    RequestTimeout,
    StreamError,
    Unauthorized,
)
from tests.client.conftest import live_settings, serve
from tests.fakes.openai_server import FakeOpenAIServer, Reply

API_KEYS = {"key-alice": "alice", "key-bob": "bob"}


async def test_missing_api_key_is_unauthorized_with_the_server_hint(tmp_path: Path) -> None:
    with serve(live_settings(tmp_path, auth="api-key", api_keys=API_KEYS)) as live:
        async with live.client() as anonymous:
            with pytest.raises(Unauthorized) as caught:
                await anonymous.list_threads()
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")
    assert "X-API-Key" in caught.value.message


async def test_api_key_acts_as_its_user(tmp_path: Path) -> None:
    with serve(live_settings(tmp_path, auth="api-key", api_keys=API_KEYS)) as live:
        async with live.client(api_key="key-alice") as alice, live.client(api_key="key-bob") as bob:
            reply = await alice.send("alice's secret")
            assert [t.id for t in (await alice.list_threads()).data] == [reply.thread_id]
            assert (await bob.list_threads()).data == []


async def test_rate_limit_carries_retry_after(tmp_path: Path) -> None:
    settings = live_settings(tmp_path, auth="api-key", api_keys=API_KEYS, rate_limit_per_minute=2)
    with serve(settings) as live:
        async with live.client(api_key="key-alice") as alice:
            await alice.list_threads()
            await alice.list_threads()
            with pytest.raises(RateLimited) as caught:
                await alice.list_threads()
    assert caught.value.status == 429
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 60


async def test_model_failure_mid_stream_is_an_error_event_and_a_stream_error(
    tmp_path: Path,
) -> None:
    with FakeOpenAIServer() as fake:
        fake.enqueue(Reply(status=500), Reply(status=500))
        settings = live_settings(
            tmp_path, model="openai-compatible:m", model_base_url=fake.url, model_max_retries=0
        )
        with serve(settings) as live:
            async with live.client() as client:
                events = [event async for event in client.create_thread("fail please")]
                errors = [event for event in events if isinstance(event, ErrorEvent)]
                assert len(errors) == 1 and errors[0].message
                with pytest.raises(StreamError) as caught:
                    await client.send("fail again")
    assert caught.value.status == 200
    assert caught.value.message == errors[0].message
    assert caught.value.allow_retry == errors[0].allow_retry


async def test_a_silent_server_times_out(tmp_path: Path) -> None:
    with FakeOpenAIServer() as fake:
        fake.enqueue(Reply(first_token_delay=10.0))
        settings = live_settings(tmp_path, model="openai-compatible:m", model_base_url=fake.url)
        with serve(settings) as live:
            async with live.client(timeout=1.0) as client:
                with pytest.raises(RequestTimeout) as caught:
                    await client.send("are you there?")
    assert caught.value.status is None
    assert caught.value.code == "timeout"


async def test_a_body_cut_short_is_a_transport_error() -> None:
    """A server that sends its headers, part of the body, then hangs up: the client's own
    ``TransportError``, never httpx's exception, for a JSON answer and a download alike."""
    import asyncio

    from chatkit_backend.client import ChatKitClient, TransportError

    async def cut_short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b'Content-Length: 100\r\n\r\n{"data": [')
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(cut_short, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with ChatKitClient(f"http://127.0.0.1:{port}/chatkit") as client:
            with pytest.raises(TransportError, match="reading the answer to POST"):
                await client.list_threads()
            with pytest.raises(TransportError, match="reading the answer to GET"):
                await client.download_attachment("atc_1")
    finally:
        server.close()
        await server.wait_closed()
