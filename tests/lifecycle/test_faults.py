"""Six faults found by trying public bug reports, each fixed as a kind, over HTTP on SQLite
and PostgreSQL (the sixth, the action without a handler, is in test_actions.py):

a. a client tool's output is accepted past hidden items stored after the pending call;
b. every streamed event is a snapshot of its item when it was emitted (workflows, widgets);
c. two @-mention tags with one label and different ids both reach the model;
d. a thread whose first reply is stopped is titled with the first message's words;
e. no write of thread metadata from a stale copy: a rename or a lock made while a reply
   streams survives the end of the reply.
"""

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from agents import Agent, StopAtTools
from chatkit.types import HiddenContextItem, LockedStatus, SDKHiddenContextItem, ThreadItem

from chatkit_backend.stores import BackendStore
from tests.fakes.openai_server import FakeOpenAIServer, Reply, ToolCall, tool_output_text
from tests.lifecycle import extras
from tests.lifecycle.harness import STORE_KINDS, USER, Live, Streaming, message, served
from tests.support.bodies import create_body
from tests.support.wait import poll

CANCEL_MARKER = "The user cancelled the stream. Stop responding to the prior request."


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="module", params=STORE_KINDS)
def modelled(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    fake: FakeOpenAIServer,
) -> Iterator[Live]:
    """The app on the fake model server, with the client tool ``ask_browser``."""
    agent = Agent(
        name="Assistant",
        tools=[extras.ask_browser],
        tool_use_behavior=StopAtTools(stop_at_tool_names=["ask_browser"]),
    )
    settings = {
        "model": "openai-compatible:fake-model",
        "model_base_url": fake.url,
        "model_api_key": "sk-test",
        "model_max_retries": 0,
        "title_timeout": 5.0,
    }
    with served(
        request.param, tmp_path_factory.mktemp("faults-model"), request, settings, agent=agent
    ) as app:
        yield app


@pytest.fixture(scope="module", params=STORE_KINDS)
def offline(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """The app on the offline model, slowed so a reply streams for ~2 s, with the tools."""
    with served(
        request.param,
        tmp_path_factory.mktemp("faults-offline"),
        request,
        settings={"offline_token_delay": 0.03},
        tools=extras.TOOLS,
    ) as app:
        yield app


def _add_items(live: Live, thread_id: str, *items: ThreadItem) -> None:
    async def call(store: BackendStore) -> None:
        for item in items:
            await store.add_thread_item(thread_id, item, USER)

    live.run_store(call)


def _stored_items(live: Live, thread_id: str) -> list[ThreadItem]:
    async def call(store: BackendStore) -> list[ThreadItem]:
        return (await store.load_thread_items(thread_id, None, 100, "asc", USER)).data

    items: list[ThreadItem] = live.run_store(call)
    return items


# -- a. the pending client tool call, past hidden items ------------------------------------
@pytest.mark.parametrize("stored_after", ["hidden-context", "cancelled-turn-marker"])
def test_a_client_tool_output_is_accepted_past_hidden_items_and_the_agent_continues(
    modelled: Live, fake: FakeOpenAIServer, stored_after: str
) -> None:
    fake.enqueue(
        Reply(text="", tool_calls=(ToolCall("ask_browser", {}, call_id="call_sel"),)),
        Reply(answer=lambda body: f"You selected {tool_output_text(body)}"),
    )
    thread_id, events = modelled.create_thread("what did I select?")
    call = next(
        e["item"]
        for e in events
        if e["type"] == "thread.item.done" and e["item"]["type"] == "client_tool_call"
    )
    assert call["status"] == "pending"
    later = datetime.fromisoformat(call["created_at"]) + timedelta(seconds=1)
    if stored_after == "hidden-context":
        after: ThreadItem = HiddenContextItem(
            id="hc_after", thread_id=thread_id, created_at=later, content="the page scrolled"
        )
    else:  # a turn cancelled after the call went out (the client left during the title)
        after = SDKHiddenContextItem(
            id="shcx_after", thread_id=thread_id, created_at=later, content=CANCEL_MARKER
        )
    _add_items(modelled, thread_id, after)

    events = modelled.events(
        {
            "type": "threads.add_client_tool_output",
            "params": {"thread_id": thread_id, "result": "the third paragraph"},
        }
    )
    done = [e["item"] for e in events if e["type"] == "thread.item.done"]
    assert [item["type"] for item in done] == ["assistant_message"]
    assert done[0]["content"][0]["text"] == 'You selected "the third paragraph"'

    sent = fake.model_requests[-1].json()
    assert json.loads(tool_output_text(sent)) == "the third paragraph"  # the output, as JSON
    stored = {item.id: item for item in _stored_items(modelled, thread_id)}
    completed = stored[call["id"]]
    assert getattr(completed, "status", None) == "completed"
    if stored_after == "hidden-context":
        assert "hc_after" in stored and "the page scrolled" in json.dumps(sent)
    else:  # the marker would tell the model to stop the turn the client just continued
        assert "shcx_after" not in stored and CANCEL_MARKER not in json.dumps(sent)


# -- b. streamed events are snapshots ------------------------------------------------------
def _tasks(item: dict[str, Any]) -> list[str]:
    return [task["title"] for task in item["workflow"]["tasks"]]


def test_workflow_events_carry_the_workflow_as_it_was_when_each_was_emitted(
    offline: Live,
) -> None:
    thread_id, _ = offline.create_thread("hi")
    events = offline.events(message(thread_id, '/tool research {"topic": "tides"}'))
    added = [
        e["item"]
        for e in events
        if e["type"] == "thread.item.added" and e["item"]["type"] == "workflow"
    ]
    assert len(added) == 1
    workflow_id = added[0]["id"]
    assert _tasks(added[0]) == ["Searching"]
    updates = [
        (e["update"]["type"], e["update"]["task_index"], e["update"]["task"]["title"])
        for e in events
        if e["type"] == "thread.item.updated" and e["item_id"] == workflow_id
    ]
    assert updates == [
        ("workflow.task.added", 1, "Reading"),
        ("workflow.task.updated", 0, "Searched"),
        ("workflow.task.added", 2, "Summarising"),
    ]
    done = [
        e["item"]
        for e in events
        if e["type"] == "thread.item.done" and e["item"]["id"] == workflow_id
    ]
    assert len(done) == 1  # one done, not one from the tool and one from the reply
    assert _tasks(done[0]) == ["Searched", "Reading", "Summarising"]

    # A client applying the events in order shows what the store holds.
    tasks = _tasks(added[0])
    for kind, index, title in updates:
        if kind == "workflow.task.added":
            tasks.insert(index, title)
        else:
            tasks[index] = title
    assert tasks == _tasks(done[0])
    stored = next(item for item in offline.items(thread_id) if item["id"] == workflow_id)
    assert _tasks(stored) == tasks


def test_a_widget_changed_in_place_by_its_generator_streams_each_state(offline: Live) -> None:
    thread_id, _ = offline.create_thread("hi")
    events = offline.events(message(thread_id, "/tool live_card {}"))
    added = [
        e["item"]
        for e in events
        if e["type"] == "thread.item.added" and e["item"]["type"] == "widget"
    ]
    assert len(added) == 1
    widget_id = added[0]["id"]

    def text(root: dict[str, Any]) -> str:
        return str(root["children"][0]["value"])

    assert text(added[0]["widget"]) == "step 1"
    states = [
        text(e["update"]["widget"])
        for e in events
        if e["type"] == "thread.item.updated" and e["item_id"] == widget_id
    ]
    assert states == ["step 2", "step 3"]
    done = [
        e["item"]
        for e in events
        if e["type"] == "thread.item.done" and e["item"]["id"] == widget_id
    ]
    assert [text(item["widget"]) for item in done] == ["step 3"]


# -- c. tags with one label and different ids ----------------------------------------------
def test_two_tags_with_one_label_and_different_ids_both_reach_the_model(
    modelled: Live, fake: FakeOpenAIServer
) -> None:
    fake.enqueue(Reply(text="Both noted."))
    body = create_body("compare")
    body["params"]["input"]["content"] = [
        {"type": "input_text", "text": "Compare "},
        {
            "type": "input_tag",
            "id": "person",
            "text": "Alex",
            "data": {"id": "user_1", "team": "red"},
        },
        {"type": "input_text", "text": " with "},
        {
            "type": "input_tag",
            "id": "person",
            "text": "Alex",
            "data": {"id": "user_2", "team": "blue"},
        },
        {"type": "input_text", "text": " and again "},
        {
            "type": "input_tag",
            "id": "person",
            "text": "Alex",
            "data": {"id": "user_1", "team": "red"},
        },
    ]
    modelled.events(body)
    sent = json.dumps(
        next(r.json() for r in reversed(fake.model_requests) if "Compare @Alex" in r.text)
    )
    assert sent.count('@Alex refers to: {\\"id\\": \\"user_1\\", \\"team\\": \\"red\\"}') == 1
    assert sent.count('@Alex refers to: {\\"id\\": \\"user_2\\", \\"team\\": \\"blue\\"}') == 1


# -- d. a stopped first reply still titles the thread --------------------------------------
def test_a_thread_whose_first_reply_is_stopped_is_titled_with_the_first_message(
    offline: Live,
) -> None:
    reply = Streaming(offline, create_body("Plan a trip to Lisbon in spring please"))
    thread_id = reply.thread_id()
    reply.wait_for("thread.item.updated")
    reply.disconnect()

    title = poll(lambda: offline.thread(thread_id)["title"], "the thread titled", within=10)
    assert title == "Plan a trip to Lisbon in"
    poll(
        lambda: offline.post(message(thread_id, "Actually, Porto")).status_code == 200,
        "the next message accepted",
    )
    assert offline.thread(thread_id)["title"] == "Plan a trip to Lisbon in"


# -- e. no write from a stale copy ---------------------------------------------------------
def test_a_rename_and_a_lock_made_while_the_reply_streams_survive_its_end(offline: Live) -> None:
    reply = Streaming(offline, create_body("the automatic title would be this"))
    thread_id = reply.thread_id()
    reply.wait_for("thread.item.updated")
    renamed = offline.post(
        {"type": "threads.update", "params": {"thread_id": thread_id, "title": "My own title"}}
    )
    assert renamed.status_code == 200 and renamed.json()["title"] == "My own title"

    async def lock(store: BackendStore) -> None:
        await store.set_thread_status(thread_id, LockedStatus(reason="by an admin"), USER)

    offline.run_store(lock)
    events = reply.finish()

    thread = offline.thread(thread_id)
    assert thread["title"] == "My own title"
    assert thread["status"] == {"type": "locked", "reason": "by an admin"}
    updates = [e["thread"] for e in events if e["type"] == "thread.updated"]
    assert updates and updates[-1]["title"] == "My own title"  # the client is told the truth
    assert updates[-1]["status"] == {"type": "locked", "reason": "by an admin"}
