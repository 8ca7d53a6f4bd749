"""With no model configured, the app answers through the built-in offline model."""

from pathlib import Path

import httpx
from agents import function_tool

from tests.responder.conftest import Stream, live_app, offline_settings, user_input
from tests.support.live import run_serve, sse_events


def test_offline_reply_streams_token_by_token_and_titles_the_thread() -> None:
    with live_app(offline_settings()) as app:
        stream = app.create_thread("Hello there, what can you do for me today?")
        items = app.items(stream.thread_id)

    deltas = [
        event["update"]["delta"]
        for event in stream.of_type("thread.item.updated")
        if event["update"]["type"] == "assistant_message.content_part.text_delta"
    ]
    assert len(deltas) > 20
    assert "".join(deltas) == stream.assistant_text
    assert stream.assistant_text.startswith(
        "You wrote: “Hello there, what can you do for me today?”."
    )
    assert "offline model" in stream.assistant_text
    assert stream.of_type("thread.updated")[-1]["thread"]["title"] == "Hello there, what can you do"
    assert [item["type"] for item in items] == ["user_message", "assistant_message"]


@function_tool
def roll_dice(sides: int) -> str:
    """Roll a die with this many sides (deterministic here: the highest face)."""
    return f"rolled {sides}"


def test_offline_model_exercises_a_tool_through_the_whole_path() -> None:
    with live_app(offline_settings(), tools=[roll_dice]) as app:
        stream = app.create_thread('/tool roll_dice {"sides": 20}')
        followup = app.add_message(stream.thread_id, "thanks")

    assert stream.assistant_text == "The tool `roll_dice` returned: rolled 20"
    assert "tools: `roll_dice`" in followup.assistant_text


def test_serve_on_a_fresh_machine_answers_through_the_offline_model(tmp_path: Path) -> None:
    env = {"CHATKIT_DATA_DIR": str(tmp_path / "data"), "CHATKIT_OFFLINE_TOKEN_DELAY": "0"}
    with run_serve(env=env, cwd=tmp_path) as (base_url, process):
        response = httpx.post(
            f"{base_url}/chatkit",
            json={"type": "threads.create", "params": {"input": user_input("Is anyone there?")}},
            timeout=30,
        )
        process.terminate()
        output = process.communicate(timeout=15)[0]

    stream = Stream(
        sse_events(response.text), response.headers.get("x-request-id", ""), response.status_code
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert stream.of_type("thread.created")
    assert stream.assistant_text.startswith("You wrote: “Is anyone there?”. I am the offline model")
    assert "model: offline" in output
