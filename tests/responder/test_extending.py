"""The examples in docs/extending.md run: progress, widget and client tools, via the offline model."""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.responder.conftest import LiveApp, live_app, offline_settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "extending.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


def tools_example() -> dict[str, Any]:
    """Execute the block marked ``<!-- example: tools -->`` and return its names."""
    text = DOC.read_text(encoding="utf-8")
    block = (
        text.split("<!-- example: tools -->", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    )
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(block, str(DOC), "exec"), namespace)
    return namespace


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_every_python_block_compiles(index: int) -> None:
    compile(python_blocks()[index], f"{DOC.name}[{index}]", "exec")


@pytest.fixture(scope="module")
def example_app() -> Any:
    agent = tools_example()["agent"]
    with live_app(offline_settings(), agent=agent) as app:
        yield app


def test_progress_tool_streams_progress_then_the_answer(example_app: LiveApp) -> None:
    stream = example_app.create_thread('/tool research {"topic": "tides"}')

    assert [event["text"] for event in stream.of_type("progress_update")] == [
        "Calling research…",  # every tool call shows (responder/tool_activity.py)
        "Searching: tides",
        "Reading: tides",
        "Summarising: tides",
    ]
    assert (
        stream.assistant_text
        == "The tool `research` returned: three sources agree that tides are caused by the Moon"
    )


def test_widget_tool_adds_a_stored_widget(example_app: LiveApp) -> None:
    stream = example_app.create_thread('/tool show_weather {"city": "Lisbon"}')
    items = example_app.items(stream.thread_id)

    widgets = [
        event["item"]
        for event in stream.of_type("thread.item.done")
        if event["item"]["type"] == "widget"
    ]
    assert len(widgets) == 1
    assert widgets[0]["copy_text"] == "Lisbon: 21 °C, sunny"
    assert widgets[0]["widget"]["children"][0]["value"] == "Lisbon: 21 °C, sunny"
    assert [item["type"] for item in items] == ["user_message", "widget", "assistant_message"]
    assert items[1]["id"] == widgets[0]["id"]


def test_client_tool_waits_for_the_browser_then_continues(example_app: LiveApp) -> None:
    stream = example_app.create_thread("/tool get_selection {}")
    calls = [
        event["item"]
        for event in stream.of_type("thread.item.done")
        if event["item"]["type"] == "client_tool_call"
    ]

    assert len(calls) == 1
    assert (calls[0]["name"], calls[0]["status"], calls[0]["arguments"]) == (
        "get_selection",
        "pending",
        {},
    )
    assert calls[0]["id"].startswith("tc_") and calls[0]["id"] != "__fake_id__"
    assert stream.assistant_text == ""  # the agent stopped for the browser

    followup = example_app.stream(
        {
            "type": "threads.add_client_tool_output",
            "params": {"thread_id": stream.thread_id, "result": {"text": "the selected words"}},
        }
    )
    items = example_app.items(stream.thread_id)

    assert followup.assistant_text == "The tool `get_selection` returned: " + json.dumps(
        {"text": "the selected words"}
    )
    assert [(item["type"], item.get("status")) for item in items] == [
        ("user_message", None),
        ("client_tool_call", "completed"),
        ("assistant_message", None),
    ]
