"""Store errors as the API answers them: the app on a real SQLite store, two users."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatkit_backend import Settings, create_app
from tests.support.bodies import create_body
from tests.support.live import sse_events


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(data_dir=tmp_path, auth="header", offline_token_delay=0)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            yield http


async def post(client: httpx.AsyncClient, user: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/chatkit", json=body, headers={"X-User-Id": user})


async def create_thread(client: httpx.AsyncClient, user: str) -> str:
    response = await post(client, user, create_body())
    events = sse_events(response.text)
    return str(next(e["thread"]["id"] for e in events if e["type"] == "thread.created"))


async def test_unknown_cursor_answers_400_invalid_page(client: httpx.AsyncClient) -> None:
    thread_id = await create_thread(client, "alice")
    response = await post(
        client,
        "alice",
        {"type": "items.list", "params": {"thread_id": thread_id, "after": "msg_gone"}},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["message"]) == (
        "invalid_page",
        f"after: no item 'msg_gone' in thread '{thread_id}'",
    )


async def test_another_users_thread_answers_404_and_is_not_listed(
    client: httpx.AsyncClient,
) -> None:
    thread_id = await create_thread(client, "alice")
    response = await post(client, "bob", {"type": "items.list", "params": {"thread_id": thread_id}})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == f"thread '{thread_id}' not found"
    listed = await post(client, "bob", {"type": "threads.list", "params": {}})
    assert listed.json()["data"] == []
    own = await post(client, "alice", {"type": "threads.list", "params": {}})
    assert [t["id"] for t in own.json()["data"]] == [thread_id]
