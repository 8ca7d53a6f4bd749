"""The widget actions example of docs/extending.md works over HTTP: its streamed handler
thanks the user in the chat, its sync handler redraws the widget."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from chatkit_backend import Actions
from chatkit_backend.stores import BackendStore
from tests.lifecycle import extras
from tests.lifecycle.harness import STORE_KINDS, USER, Live, action, served, sync_action

DOC = Path(__file__).resolve().parents[2] / "docs" / "extending.md"


def actions_example() -> dict[str, Any]:
    """Execute the block marked ``<!-- example: actions -->``; its names."""
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- example: actions -->", 1)[1].split("```python\n", 1)[1]
    namespace: dict[str, Any] = {"__name__": "docs_actions_example"}
    exec(compile(block.split("```", 1)[0], str(DOC), "exec"), namespace)
    return namespace


@pytest.fixture(scope="module", params=STORE_KINDS)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    example = actions_example()
    assert isinstance(example["app"], FastAPI)
    registry = example["actions"]
    assert isinstance(registry, Actions) and registry.types() == ["rate", "vote"]
    with served(
        request.param, tmp_path_factory.mktemp("docs-actions"), request, actions=registry
    ) as app:
        yield app


def _thread_with_widget(live: Live) -> str:
    thread_id, _ = live.create_thread("show me the poll")

    async def call(store: BackendStore) -> None:
        await store.add_thread_item(thread_id, extras.widget_item(thread_id), USER)

    live.run_store(call)
    return thread_id


def test_the_streamed_handler_of_the_docs_answers_in_the_chat(live: Live) -> None:
    thread_id = _thread_with_widget(live)
    events = live.events(action(thread_id, "vote", "wdg_poll", choice="blue"))
    done = [e["item"] for e in events if e["type"] == "thread.item.done"]
    assert [item["content"][0]["text"] for item in done] == ["Thanks for voting blue!"]
    assert live.items(thread_id)[-1]["id"] == done[0]["id"]


def test_the_sync_handler_of_the_docs_redraws_the_widget(live: Live) -> None:
    thread_id = _thread_with_widget(live)
    response = live.post(sync_action(thread_id, "rate", "wdg_poll", stars=3))
    assert response.status_code == 200, response.text
    widget = response.json()["updated_item"]["widget"]
    assert widget["children"] == [{"type": "Text", "value": "★★★"}]
