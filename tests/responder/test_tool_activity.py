"""Tool calls are visible: local tools as progress updates, hosted tools as workflow tasks,
search citations as the answer's sources, generated images as attachments (never base64
in the database). Against the fake OpenAI server, through the real app on uvicorn.
"""

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from agents import Agent, function_tool

from chatkit_backend.responder import AgentResponder
from chatkit_backend.settings import SettingsError
from tests.fakes.openai_server import FakeOpenAIServer, Reply, tool_round
from tests.responder.conftest import Stream, live_app, model_settings

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
URL_CITATION = {
    "type": "url_citation",
    "start_index": 0,
    "end_index": 12,
    "url": "https://docs.python.org/3/whatsnew/",
    "title": "What's New In Python",
}


@function_tool
def lookup_order(order_id: str) -> str:
    """Look an order up."""
    return f"order {order_id} shipped"


def updates(stream: Stream, kind: str) -> list[dict[str, Any]]:
    return [
        event["update"]
        for event in stream.of_type("thread.item.updated")
        if event["update"]["type"] == kind
    ]


def workflow_done(stream: Stream) -> dict[str, Any]:
    done = [
        e["item"] for e in stream.of_type("thread.item.done") if e["item"]["type"] == "workflow"
    ]
    assert len(done) == 1, stream.events
    item: dict[str, Any] = done[0]
    return item


# -- local tools ---------------------------------------------------------------------------
def test_a_function_tool_call_shows_its_name_while_it_runs(fake: FakeOpenAIServer) -> None:
    agent = Agent(name="Support", tools=[lookup_order])
    fake.enqueue(*tool_round("lookup_order", {"order_id": "A1"}))
    with live_app(model_settings("openai", fake), agent=agent) as app:
        stream = app.create_thread("Where is A1?")

    kinds = [event["type"] for event in stream.events]
    progress = stream.of_type("progress_update")
    assert [event["text"] for event in progress] == ["Calling lookup_order…"]
    first_answer = next(
        i
        for i, e in enumerate(stream.events)
        if e["type"] == "thread.item.added" and e["item"]["type"] == "assistant_message"
    )
    assert kinds.index("progress_update") < first_answer
    assert stream.assistant_text == "The tool said: order A1 shipped"


# -- hosted tools --------------------------------------------------------------------------
def test_a_web_search_shows_as_a_task_and_its_citations_as_sources(
    fake: FakeOpenAIServer,
) -> None:
    search = {
        "type": "web_search_call",
        "status": "completed",
        "action": {
            "type": "search",
            "query": "what is new in python 3.14",
            "sources": [{"type": "url", "url": "https://docs.python.org/3/whatsnew/"}],
        },
    }
    fake.enqueue(
        Reply(
            text="Python 3.14 adds template strings.",
            output_items=(search,),
            annotations=(URL_CITATION,),
        )
    )
    settings = model_settings("openai", fake, tools='[{"type": "web_search"}]')
    with live_app(settings) as app:
        stream = app.create_thread("What is new in Python?")
        items = app.items(stream.thread_id)

    assert stream.of_type("error") == []
    added = [
        e["item"] for e in stream.of_type("thread.item.added") if e["item"]["type"] == "workflow"
    ]
    assert added[0]["workflow"]["tasks"] == [
        {
            "type": "web_search",
            "status_indicator": "loading",
            "title": "Searching the web",
            "title_query": "what is new in python 3.14",
            "queries": ["what is new in python 3.14"],
            "sources": [
                {
                    "type": "url",
                    "url": "https://docs.python.org/3/whatsnew/",
                    "title": "https://docs.python.org/3/whatsnew/",
                }
            ],
        }
    ]
    (done_task,) = workflow_done(stream)["workflow"]["tasks"]
    assert (done_task["title"], done_task["status_indicator"]) == ("Searched the web", "complete")
    (annotation,) = [
        u["annotation"] for u in updates(stream, "assistant_message.content_part.annotation_added")
    ]
    assert annotation["source"] == {
        "type": "url",
        "url": "https://docs.python.org/3/whatsnew/",
        "title": "What's New In Python",
    }
    stored = {item["type"]: item for item in items}
    assert stored["workflow"]["workflow"]["tasks"][0]["queries"] == ["what is new in python 3.14"]
    assert stored["assistant_message"]["content"][0]["annotations"][0]["source"]["url"] == (
        "https://docs.python.org/3/whatsnew/"
    )
    assert [item["type"] for item in items].index("workflow") < [
        item["type"] for item in items
    ].index("assistant_message")


def test_a_file_search_shows_the_files_and_cites_them(fake: FakeOpenAIServer) -> None:
    search = {
        "type": "file_search_call",
        "status": "completed",
        "queries": ["refund policy"],
        "results": [
            {"file_id": "file_1", "filename": "policies.pdf", "score": 0.9, "text": "..."},
            {"file_id": "file_1", "filename": "policies.pdf", "score": 0.8, "text": "..."},
        ],
    }
    citation = {
        "type": "file_citation",
        "file_id": "file_1",
        "filename": "policies.pdf",
        "index": 5,
    }
    fake.enqueue(
        Reply(text="Refunds take 5 days.", output_items=(search,), annotations=(citation,))
    )
    settings = model_settings(
        "openai", fake, tools='[{"type": "file_search", "vector_store_ids": ["vs_1"]}]'
    )
    with live_app(settings) as app:
        stream = app.create_thread("How do refunds work?")

    (task,) = workflow_done(stream)["workflow"]["tasks"]
    assert task["type"] == "file"
    assert task["title"] == "Searched files for “refund policy”"
    assert task["sources"] == [
        {"type": "file", "filename": "policies.pdf", "title": "policies.pdf"}
    ]
    (annotation,) = [
        u["annotation"] for u in updates(stream, "assistant_message.content_part.annotation_added")
    ]
    assert annotation["source"]["type"] == "file"
    assert annotation["source"]["filename"] == "policies.pdf"


def test_code_interpreter_shows_the_code_it_ran(fake: FakeOpenAIServer) -> None:
    call = {
        "type": "code_interpreter_call",
        "status": "completed",
        "code": "print(6 * 7)",
        "container_id": "cntr_1",
        "outputs": [{"type": "logs", "logs": "42"}],
    }
    fake.enqueue(Reply(text="It is 42.", output_items=(call,)))
    settings = model_settings("openai", fake, tools='[{"type": "code_interpreter"}]')
    with live_app(settings) as app:
        stream = app.create_thread("6 times 7?")

    (task,) = workflow_done(stream)["workflow"]["tasks"]
    assert task == {
        "type": "custom",
        "status_indicator": "complete",
        "title": "Ran code",
        "content": "```python\nprint(6 * 7)\n```",
    }
    assert stream.assistant_text == "It is 42."


# -- generated images ------------------------------------------------------------------------
def test_a_generated_image_is_saved_as_an_attachment_and_referenced_by_url(
    fake: FakeOpenAIServer, tmp_path: Path
) -> None:
    call = {
        "type": "image_generation_call",
        "status": "completed",
        "result": base64.b64encode(PNG).decode("ascii"),
    }
    fake.enqueue(Reply(text="Here is your cat.", output_items=(call,)))
    settings = model_settings(
        "openai",
        fake,
        tools='[{"type": "image_generation"}]',
        attachments=True,
        data_dir=tmp_path,
    )
    with live_app(settings) as app:
        stream = app.create_thread("Draw a cat")
        items = app.items(stream.thread_id)
        (image_item,) = [item for item in items if item["type"] == "generated_image"]
        url = image_item["image"]["url"]
        fetched = httpx.get(url, timeout=10)
        stored_rows = json.dumps(items)
        app.post({"type": "threads.delete", "params": {"thread_id": stream.thread_id}})
        after_delete = httpx.get(url, timeout=10)

    assert url.startswith(f"{app.base_url}/attachments/")
    assert "/preview?sig=" in url
    assert fetched.status_code == 200
    assert fetched.content == PNG
    assert fetched.headers["content-type"] == "image/png"
    assert "base64" not in stored_rows and "data:image" not in stored_rows
    done = [
        e["item"]
        for e in stream.of_type("thread.item.done")
        if e["item"]["type"] == "generated_image"
    ]
    assert done[0]["image"]["url"] == url
    assert after_delete.status_code == 404  # deleted with its thread


def test_image_generation_without_attachments_is_refused(fake: FakeOpenAIServer) -> None:
    settings = model_settings("openai", fake, tools='[{"type": "image_generation"}]')
    with pytest.raises(SettingsError) as caught:
        AgentResponder(settings)
    assert str(caught.value) == (
        "CHATKIT_TOOLS has image_generation, which needs CHATKIT_ATTACHMENTS=true: generated "
        "images are kept as attachments of their thread"
    )
