"""One reply at a time per thread: another request that would start a reply on a thread
while one streams is answered 409 ``thread_busy`` before any stream; reads and sync
actions are not blocked; the thread is free again once the reply ends or is stopped."""

import time
from collections.abc import Iterator
from typing import Any

import pytest

from chatkit_backend.stores import BackendStore
from tests.lifecycle import extras
from tests.lifecycle.harness import (
    STORE_KINDS,
    USER,
    Live,
    Streaming,
    action,
    error_of,
    message,
    served,
    sync_action,
)
from tests.support.wait import poll

TOKEN_DELAY = 0.03
"""Seconds per word of the offline reply (about 60 words): a reply streams for ~2 s."""


@pytest.fixture(scope="module", params=STORE_KINDS)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    with served(
        request.param,
        tmp_path_factory.mktemp("busy"),
        request,
        settings={"offline_token_delay": TOKEN_DELAY},
        tools=extras.TOOLS,
        actions=extras.actions,
    ) as app:
        # Answer 409 after 0.2 s instead of waiting a second for a reply that is ending.
        app.app.state.services.dispatcher.leases.busy_wait = 0.2
        yield app


def _thread_with_widget(live: Live) -> tuple[str, str]:
    thread_id, events = live.create_thread("first")
    first = next(e["item"]["id"] for e in events if e["type"] == "thread.item.done")

    async def call(store: BackendStore) -> None:
        await store.add_thread_item(thread_id, extras.widget_item(thread_id), USER)

    live.run_store(call)
    return thread_id, first


def _streaming(live: Live, thread_id: str, **kwargs: Any) -> Streaming:
    """A reply streaming on the thread: returned once its text has started."""
    reply = Streaming(live, message(thread_id, "tell me more"), **kwargs)
    reply.wait_for("thread.item.updated")
    return reply


def test_a_second_reply_on_a_streaming_thread_is_refused_before_any_stream(live: Live) -> None:
    thread_id, first_message = _thread_with_widget(live)
    reply = _streaming(live, thread_id)

    for body in (
        message(thread_id, "are you there?"),
        {
            "type": "threads.retry_after_item",
            "params": {"thread_id": thread_id, "item_id": first_message},
        },
        action(thread_id, "vote", "wdg_poll", choice="yes"),
    ):
        refused = error_of(live.post(body), 409, "thread_busy")
        assert refused.startswith(f"thread {thread_id!r} is busy: another reply is streaming")
    assert reply.status == 200 and not any(e["type"] == "error" for e in reply.lines)

    # Reads and sync actions are not blocked.
    assert live.thread(thread_id)["id"] == thread_id
    assert live.items(thread_id)
    toggled = live.post(sync_action(thread_id, "toggle", "wdg_poll", text="toggled"))
    assert toggled.status_code == 200, toggled.text

    events = reply.finish()
    assert events[-1]["type"] in ("thread.item.done", "thread.updated")
    assert [e["type"] for e in live.events(message(thread_id, "now?"))].count("error") == 0
    assert _calls_on(thread_id) == []  # the refused vote never reached its handler


def _calls_on(thread_id: str) -> list[dict[str, Any]]:
    return [call for call in extras.CALLS if call["thread_id"] == thread_id]


def test_another_thread_is_not_blocked(live: Live) -> None:
    busy_thread, _ = live.create_thread("one")
    other_thread, _ = live.create_thread("two")
    reply = _streaming(live, busy_thread)
    other = Streaming(live, message(other_thread, "meanwhile"))
    assert other.finish() and other.status == 200
    reply.finish()


def test_a_stopped_reply_frees_the_thread_once_it_has_saved(live: Live) -> None:
    thread_id, _ = live.create_thread("first")
    reply = _streaming(live, thread_id)
    reply.disconnect()
    started = time.monotonic()

    def accepted() -> bool:
        response = live.post(message(thread_id, "after the stop"))
        if response.status_code == 409:
            assert response.json()["error"]["code"] == "thread_busy"
            return False
        assert response.status_code == 200, response.text
        return True

    poll(accepted, "a message accepted after the stopped reply", within=10)
    assert time.monotonic() - started < 5
    kinds = [item["type"] for item in live.items(thread_id)]
    # the first exchange, the stopped one (its partial reply kept), the new one
    assert kinds == ["user_message", "assistant_message"] * 3
