"""The model client's aiohttp transport reports errors as httpx does, and reads replies whole."""

import socket

import httpx2
import pytest

from chatkit_backend.responder.http_client import model_http_client
from tests.fakes.openai_server import FakeOpenAIServer, Reply


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with model_http_client(5.0) as client:
        with pytest.raises(httpx2.ConnectError):
            await client.get(f"http://127.0.0.1:{closed_port()}/v1/models")


async def test_a_connection_cut_mid_reply_is_a_read_error() -> None:
    with FakeOpenAIServer(Reply(text="one two three four", cut_after_tokens=2)) as fake:
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        async with model_http_client(5.0) as client:
            async with client.stream("POST", fake.url + "/chat/completions", json=body) as response:
                with pytest.raises(httpx2.ReadError):
                    async for _ in response.aiter_bytes():
                        pass


async def test_a_silent_server_is_a_read_timeout() -> None:
    with FakeOpenAIServer(Reply(text="late", first_token_delay=5.0)) as fake:
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        async with model_http_client(0.3) as client:
            with pytest.raises(httpx2.ReadTimeout):
                async with client.stream(
                    "POST", fake.url + "/chat/completions", json=body
                ) as response:
                    async for _ in response.aiter_bytes():
                        pass


async def test_a_streamed_reply_is_read_whole() -> None:
    with FakeOpenAIServer(Reply(text=" ".join(["w"] * 500))) as fake:
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        async with model_http_client(5.0) as client:
            async with client.stream("POST", fake.url + "/chat/completions", json=body) as response:
                data = b"".join([chunk async for chunk in response.aiter_bytes()])
    assert data.count(b'"content": "w') == 500
    assert data.rstrip().endswith(b"data: [DONE]")


@pytest.mark.parametrize("kind", ["openai-compatible", "openai"])
def test_replies_and_titles_reuse_a_kept_alive_connection(kind: str) -> None:
    """A model server that keeps connections alive serves every request of three threads
    (each a streamed reply and a title) on one connection."""
    from tests.responder.conftest import live_app, model_settings

    with FakeOpenAIServer(keep_alive=True) as fake:
        with live_app(model_settings(kind, fake)) as app:
            texts = [app.create_thread(f"hello {n}").assistant_text for n in range(3)]
        assert texts == ["Hello from the fake model."] * 3
        assert len(fake.model_requests) == 3 and len(fake.completion_requests) == 3
        assert len(fake.connections) == 1


def test_the_fake_server_closes_each_connection_by_default() -> None:
    from tests.responder.conftest import live_app, model_settings

    with FakeOpenAIServer() as fake:
        with live_app(model_settings("openai-compatible", fake)) as app:
            for n in range(2):
                app.create_thread(f"hello {n}")
        assert len(fake.connections) == 4


async def test_proxies_from_the_environment_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    """``HTTP_PROXY`` sends the request through the proxy (the fake server, which answers
    an absolute request line like any path); ``NO_PROXY`` exempts a host."""
    port = closed_port()
    with FakeOpenAIServer() as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        async with model_http_client(5.0) as client:
            for _ in range(2):
                response = await client.get(f"http://127.0.0.1:{port}/v1/models")
                assert response.status_code == 200
        assert [request.path for request in proxy.requests] == [
            f"http://127.0.0.1:{port}/v1/models"
        ] * 2
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with model_http_client(5.0) as client:
            with pytest.raises(httpx2.ConnectError):
                await client.get(f"http://127.0.0.1:{port}/v1/models")
        assert len(proxy.requests) == 2
