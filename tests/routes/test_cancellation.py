"""A client that disconnects mid-stream cancels the reply; the SDK saves the partial message.

Real uvicorn, the default app (SQLite file, offline model slowed down with
``offline_token_delay``), and httpx closing the connection after a few deltas.
"""

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
from chatkit.types import AssistantMessageItem, SDKHiddenContextItem, UserMessageItem
from prometheus_client.parser import text_string_to_metric_families

from chatkit_backend.auth.local import LOCAL_USER
from chatkit_backend.context import RequestContext
from chatkit_backend.stores import open_store
from tests.routes.live_app import assistant_text, create_body, create_thread, make_settings, serve
from tests.support.live import sse_event

PROMPT = "tell me something long"
TOKEN_DELAY = 0.05


def _full_reply(data_dir: Path) -> str:
    """The offline model's whole reply to PROMPT, from a server that streams it at full speed."""
    with serve(make_settings(data_dir, attachments=False)) as (base_url, _):
        _, events = create_thread(base_url, PROMPT)
    return assistant_text(events)


async def _read_until_deltas(response: httpx.Response, count: int) -> tuple[str, str]:
    """Read events until ``count`` text deltas arrived; return the thread id and the text so far."""
    thread_id = ""
    received = ""
    deltas = 0
    async for line in response.aiter_lines():
        event = sse_event(line)
        if event is None:
            continue
        if event["type"] == "thread.created":
            thread_id = event["thread"]["id"]
        update = event.get("update", {})
        if (
            event["type"] == "thread.item.updated"
            and update.get("type") == "assistant_message.content_part.text_delta"
        ):
            received += update["delta"]
            deltas += 1
            if deltas == count:
                return thread_id, received
    raise AssertionError("the stream ended before the deltas arrived")


async def _items(client: httpx.AsyncClient, thread_id: str) -> list[dict[str, Any]]:
    response = await client.post(
        "/chatkit", json={"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}}
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


async def _wait_for_assistant(
    client: httpx.AsyncClient, thread_id: str, within: float = 10.0
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        items = await _items(client, thread_id)
        if any(item["type"] == "assistant_message" for item in items):
            return items
        await asyncio.sleep(0.05)
    raise AssertionError("the partial assistant message was never saved")


async def test_disconnect_mid_stream_saves_the_partial_reply(tmp_path: Path) -> None:
    full = _full_reply(tmp_path / "reference")
    assert len(full) > 40

    settings = make_settings(tmp_path / "live", attachments=False, offline_token_delay=TOKEN_DELAY)
    with serve(settings) as (base_url, _):
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            async with client.stream(
                "POST", "/chatkit", content=json.dumps(create_body(PROMPT))
            ) as response:
                assert response.status_code == 200
                thread_id, received = await _read_until_deltas(response, 3)
            # Leaving the block closed the connection mid-stream.
            disconnected = time.monotonic()

            items = await _wait_for_assistant(client, thread_id)
            assert [item["type"] for item in items] == ["user_message", "assistant_message"]
            saved = "".join(part["text"] for part in items[1]["content"])
            assert saved.startswith(received)
            assert full.startswith(saved)
            assert 0 < len(saved) < len(full)

            # The generation stopped: nothing more is saved after the full reply's time has passed.
            remaining = len(full.split()) * TOKEN_DELAY - (time.monotonic() - disconnected)
            # A fixed wait on purpose: that nothing arrives during it is what is tested.
            await asyncio.sleep(max(remaining, 0) + 0.5)
            assert await _items(client, thread_id) == items

            metrics = (await client.get("/metrics")).text
            open_streams = next(
                sample.value
                for family in text_string_to_metric_families(metrics)
                for sample in family.samples
                if sample.name == "chatkit_open_streams"
            )
            assert open_streams == 0

            # The thread works on: a new message gets a full reply.
            follow_up = await client.post(
                "/chatkit",
                json={
                    "type": "threads.add_user_message",
                    "params": {"thread_id": thread_id, **create_body("again")["params"]},
                },
            )
            assert follow_up.status_code == 200

    # The store (read directly from the SQLite file) also holds the SDK's hidden
    # "cancelled" marker, which items.list hides from clients.
    store = open_store(settings.resolved_database_url)
    await store.open()
    try:
        page = await store.load_thread_items(
            thread_id, None, 50, "asc", RequestContext(user_id=LOCAL_USER)
        )
    finally:
        await store.close()
    kinds = [type(item) for item in page.data]
    assert kinds[:3] == [UserMessageItem, AssistantMessageItem, SDKHiddenContextItem]
    marker = page.data[2]
    assert isinstance(marker, SDKHiddenContextItem)
    assert marker.content == "The user cancelled the stream. Stop responding to the prior request."
    partial = page.data[1]
    assert isinstance(partial, AssistantMessageItem)
    assert partial.content[0].text == saved
