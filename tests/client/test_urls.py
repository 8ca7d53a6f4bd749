"""The endpoint URL (a front end's ``api.url``) or the base URL: both reach the endpoint."""

from pathlib import Path

import httpx
import pytest

from chatkit_backend.client import ChatKitClient
from chatkit_backend.client.urls import Endpoint, split_endpoint
from tests.client.conftest import Live, live_settings, serve


@pytest.mark.parametrize(
    ("url", "path", "expected"),
    [
        # a base URL: the endpoint is at /chatkit, or at the path given
        ("http://127.0.0.1:8000", None, Endpoint("http://127.0.0.1:8000", "/chatkit")),
        ("http://127.0.0.1:8000/", None, Endpoint("http://127.0.0.1:8000", "/chatkit")),
        ("http://127.0.0.1:8000", "/v1/chat", Endpoint("http://127.0.0.1:8000", "/v1/chat")),
        ("http://127.0.0.1:8000", "v1/chat/", Endpoint("http://127.0.0.1:8000", "/v1/chat")),
        ("https://h.example/api", "/chatkit", Endpoint("https://h.example/api", "/chatkit")),
        # the endpoint's URL, as a front end holds it
        ("http://127.0.0.1:8000/chatkit", None, Endpoint("http://127.0.0.1:8000", "/chatkit")),
        ("http://127.0.0.1:8000/chatkit/", None, Endpoint("http://127.0.0.1:8000", "/chatkit")),
        ("https://h.example/api/chatkit", None, Endpoint("https://h.example/api", "/chatkit")),
        ("http://127.0.0.1:8000/v1/chat", None, Endpoint("http://127.0.0.1:8000", "/v1/chat")),
        # both: the URL already ends with the path, which is not added twice
        ("http://h:1/chatkit", "/chatkit", Endpoint("http://h:1", "/chatkit")),
        ("http://h:1/api/v1/chat", "/v1/chat", Endpoint("http://h:1/api", "/v1/chat")),
    ],
)
def test_split_endpoint(url: str, path: str | None, expected: Endpoint) -> None:
    assert split_endpoint(url, path) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("127.0.0.1:8000/chatkit", "'127.0.0.1:8000/chatkit' is not an http:// or https:// URL"),
        ("ftp://h/chatkit", "'ftp://h/chatkit' is not an http:// or https:// URL"),
        ("http:///chatkit", "'http:///chatkit' is not an http:// or https:// URL"),
        ("http://h/chatkit?x=1", "'http://h/chatkit?x=1': the URL of a ChatKit endpoint has no"),
    ],
)
def test_a_url_that_is_not_one_says_why(url: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        ChatKitClient(url)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("url", "endpoint", "download"),
    [
        ("http://h:8000", "http://h:8000/chatkit", "http://h:8000/attachments/a1/content"),
        ("http://h:8000/chatkit", "http://h:8000/chatkit", "http://h:8000/attachments/a1/content"),
        (
            "https://h.example/api/chatkit",
            "https://h.example/api/chatkit",
            "https://h.example/api/attachments/a1/content",
        ),
        ("http://h:8000/v1/chat", "http://h:8000/v1/chat", "http://h:8000/attachments/a1/content"),
    ],
)
async def test_the_client_posts_to_the_endpoint_and_finds_attachments_beside_it(
    url: str, endpoint: str, download: str
) -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url}")
        if request.method == "POST":
            return httpx.Response(200, json={"data": [], "has_more": False, "after": None})
        return httpx.Response(200, content=b"bytes")

    async with ChatKitClient(url, transport=httpx.MockTransport(answer)) as client:
        assert client.endpoint == endpoint
        await client.list_threads()
        assert await client.download_attachment("a1") == b"bytes"
    assert seen == [f"POST {endpoint}", f"GET {download}"]


async def test_the_endpoint_url_reaches_a_real_server(live: Live) -> None:
    async with ChatKitClient(f"{live.url}/chatkit") as client:
        reply = await client.send("by endpoint URL")
    assert reply.text.startswith("You wrote: “by endpoint URL”.")


async def test_a_custom_chatkit_path_is_reached_by_its_endpoint_url(tmp_path: Path) -> None:
    with serve(live_settings(tmp_path, path="/v1/chat")) as running:
        async with ChatKitClient(f"{running.url}/v1/chat") as client:
            page = await client.list_threads()
        async with ChatKitClient(running.url, path="/v1/chat") as client:
            again = await client.list_threads()
    assert page.data == again.data == []
