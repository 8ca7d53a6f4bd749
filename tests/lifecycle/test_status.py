"""Thread status is enforced: a locked or closed thread takes no new replies (409 before
any stream), and is still read, renamed and deleted; tools and actions can set it."""

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from chatkit.types import (
    ActiveStatus,
    ClientToolCallItem,
    ClosedStatus,
    LockedStatus,
    StructuredInputFreeform,
    StructuredInputItem,
)

from chatkit_backend.stores import BackendStore
from tests.lifecycle import extras
from tests.lifecycle.harness import (
    STORE_KINDS,
    USER,
    Live,
    action,
    error_of,
    message,
    served,
    sync_action,
)


@pytest.fixture(scope="module", params=STORE_KINDS)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    with served(
        request.param,
        tmp_path_factory.mktemp("status"),
        request,
        tools=extras.TOOLS,
        actions=extras.actions,
    ) as app:
        yield app


def _set_status(live: Live, thread_id: str, status: Any) -> None:
    async def call(store: BackendStore) -> None:
        await store.set_thread_status(thread_id, status, USER)

    live.run_store(call)


def _seed_pending_items(live: Live, thread_id: str) -> None:
    """A widget, a pending structured input and a pending client tool call."""

    async def call(store: BackendStore) -> None:
        await store.add_thread_item(thread_id, extras.widget_item(thread_id), USER)
        await store.add_thread_item(
            thread_id,
            StructuredInputItem(
                id="si_1",
                thread_id=thread_id,
                created_at=datetime.now(),
                inputs=[StructuredInputFreeform(id="q", question="Why?")],
            ),
            USER,
        )
        await store.add_thread_item(
            thread_id,
            ClientToolCallItem(
                id="tc_1",
                thread_id=thread_id,
                created_at=datetime.now(),
                call_id="call_1",
                name="get_selection",
                arguments={},
            ),
            USER,
        )

    live.run_store(call)


def _replying_requests(thread_id: str, first_message_id: str) -> dict[str, dict[str, Any]]:
    return {
        "threads.add_user_message": message(thread_id),
        "threads.retry_after_item": {
            "type": "threads.retry_after_item",
            "params": {"thread_id": thread_id, "item_id": first_message_id},
        },
        "threads.add_client_tool_output": {
            "type": "threads.add_client_tool_output",
            "params": {"thread_id": thread_id, "result": {"text": "selected"}},
        },
        "threads.custom_action": action(thread_id, "vote", "wdg_poll", choice="yes"),
        "threads.add_structured_input": {
            "type": "threads.add_structured_input",
            "params": {
                "thread_id": thread_id,
                "item_id": "si_1",
                "input": {"answers": {"q": {"values": ["because"]}}},
            },
        },
    }


@pytest.mark.parametrize(
    ("status", "code", "message_end"),
    [
        (
            LockedStatus(reason="under review by support"),
            "thread_locked",
            "under review by support",
        ),
        (
            ClosedStatus(reason="resolved, see ticket 42"),
            "thread_closed",
            "resolved, see ticket 42",
        ),
        (LockedStatus(), "thread_locked", "is locked and takes no new messages"),
        (ClosedStatus(), "thread_closed", "is closed and takes no new messages"),
    ],
    ids=["locked", "closed", "locked-no-reason", "closed-no-reason"],
)
def test_a_thread_that_is_not_active_refuses_every_reply_before_any_stream(
    live: Live, status: Any, code: str, message_end: str
) -> None:
    thread_id, events = live.create_thread("a question")
    first_message = next(e["item"] for e in events if e["type"] == "thread.item.done")
    _seed_pending_items(live, thread_id)
    _set_status(live, thread_id, status)
    items_before = live.items(thread_id)

    for operation, body in _replying_requests(thread_id, first_message["id"]).items():
        refused = error_of(live.post(body), 409, code)
        assert refused.startswith(f"thread {thread_id!r} is "), (operation, refused)
        assert refused.endswith(message_end), (operation, refused)
    assert live.items(thread_id) == items_before  # nothing was added or answered


def test_a_locked_thread_is_still_read_renamed_given_feedback_and_deleted(live: Live) -> None:
    thread_id, events = live.create_thread("a question")
    _seed_pending_items(live, thread_id)
    _set_status(live, thread_id, LockedStatus(reason="frozen"))
    assistant = next(
        e["item"]["id"]
        for e in events
        if e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message"
    )

    shown = live.thread(thread_id)
    assert shown["status"] == {"type": "locked", "reason": "frozen"}
    assert [item["type"] for item in live.items(thread_id)][:2] == [
        "user_message",
        "assistant_message",
    ]
    listed = live.post({"type": "threads.list", "params": {"limit": 100}}).json()["data"]
    assert {"type": "locked", "reason": "frozen"} in [t["status"] for t in listed]
    renamed = live.post(
        {"type": "threads.update", "params": {"thread_id": thread_id, "title": "Kept"}}
    )
    assert renamed.status_code == 200
    assert renamed.json()["status"] == {"type": "locked", "reason": "frozen"}  # kept
    feedback = live.post(
        {
            "type": "items.feedback",
            "params": {"thread_id": thread_id, "item_ids": [assistant], "kind": "positive"},
        }
    )
    assert feedback.status_code == 200, feedback.text
    toggled = live.post(sync_action(thread_id, "toggle", "wdg_poll", text="still works"))
    assert toggled.status_code == 200, toggled.text
    assert "still works" in toggled.text
    assert live.thread(thread_id)["title"] == "Kept"
    deleted = live.post({"type": "threads.delete", "params": {"thread_id": thread_id}})
    assert deleted.status_code == 200
    assert (
        live.post({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}).status_code
        == 404
    )


def test_a_reopened_thread_takes_messages_again(live: Live) -> None:
    thread_id, _ = live.create_thread("a question")
    _set_status(live, thread_id, ClosedStatus(reason="done"))
    error_of(live.post(message(thread_id)), 409, "thread_closed")
    _set_status(live, thread_id, ActiveStatus())
    events = live.events(message(thread_id, "one more thing"))
    assert any(
        e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message" for e in events
    )


def test_a_tool_that_locks_the_thread_saves_it_and_tells_the_client(live: Live) -> None:
    thread_id, _ = live.create_thread("hi")
    events = live.events(message(thread_id, '/tool lock_thread {"reason": "escalated to a human"}'))
    updated = [e for e in events if e["type"] == "thread.updated"]
    assert updated, [e["type"] for e in events]
    assert updated[-1]["thread"]["status"] == {"type": "locked", "reason": "escalated to a human"}
    assert live.thread(thread_id)["status"] == {"type": "locked", "reason": "escalated to a human"}
    refused = error_of(live.post(message(thread_id)), 409, "thread_locked")
    assert refused.endswith("escalated to a human")


def test_an_action_that_closes_the_thread_saves_it_and_tells_the_client(live: Live) -> None:
    thread_id, _ = live.create_thread("hi")
    events = live.events(action(thread_id, "close", reason="the customer left"))
    assert [e["type"] for e in events] == ["stream_options", "thread.updated"]
    assert events[-1]["thread"]["status"] == {"type": "closed", "reason": "the customer left"}
    assert live.thread(thread_id)["status"]["type"] == "closed"
    error_of(live.post(message(thread_id)), 409, "thread_closed")


def test_set_thread_status_writes_the_status_only(tmp_path: Path, live: Live) -> None:
    thread_id, _ = live.create_thread("hi")

    async def call(store: BackendStore) -> Any:
        stale = await store.load_thread(thread_id, USER)
        renamed = stale.model_copy(update={"title": "Renamed meanwhile", "metadata": {"k": 1}})
        await store.save_thread(renamed, USER)
        return await store.set_thread_status(thread_id, LockedStatus(reason="r"), USER)

    locked = live.run_store(call)
    assert locked.title == "Renamed meanwhile"
    assert locked.metadata == {"k": 1}
    assert live.thread(thread_id)["title"] == "Renamed meanwhile"
