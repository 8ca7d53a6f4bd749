"""A client that goes away mid-stream stops the model call and keeps the partial reply."""

import json
import time
from typing import Any

import httpx
import pytest

from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.responder.conftest import MODEL_KINDS, LiveApp, live_app, model_settings, user_input


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_client_disconnect_closes_the_model_connection_and_saves_partial_text(
    kind: str, fake: FakeOpenAIServer
) -> None:
    fake.enqueue(Reply(text="The partial answer never ends", stall_after_tokens=3))
    body = {"type": "threads.create", "params": {"input": user_input("Tell me a long story")}}
    with live_app(model_settings(kind, fake, model_idle_timeout=30.0)) as app:
        thread_id = ""
        deltas: list[str] = []
        with (
            httpx.Client(timeout=10) as client,
            client.stream("POST", f"{app.base_url}/chatkit", json=body) as response,
        ):
            lines = (
                response.iter_lines()
            )  # kept referenced: a dropped iterator closes the connection
            for line in lines:
                if not line.startswith("data: "):
                    continue
                event = json.loads(line[6:])
                if event["type"] == "thread.created":
                    thread_id = event["thread"]["id"]
                update = event.get("update", {})
                if update.get("type") == "assistant_message.content_part.text_delta":
                    deltas.append(update["delta"])
                if len(deltas) == 3:
                    break  # the model now stalls; the client leaves when the block ends
            # A fixed wait on purpose: the model stalls, and nothing but the client's leaving
            # may end its call, so the call must still be open a while into the stall.
            time.sleep(0.2)
            assert fake.model_requests[0].connection.is_open  # still waiting on the stalled model
            left_at = time.monotonic()
        model_connection = fake.model_requests[0].connection

        assert fake.wait_until(lambda: not model_connection.is_open, timeout=5)
        assert model_connection.closed_by == "client"
        assert model_connection.closed_at is not None
        assert model_connection.closed_at - left_at < 1.0, model_connection.closed_at - left_at
        print(
            f"model connection closed {model_connection.closed_at - left_at:.3f}s after the client left"
        )
        items = _wait_for_saved_reply(app, thread_id)

    assert deltas == ["The ", "partial ", "answer "]
    assert [item["type"] for item in items] == ["user_message", "assistant_message"]
    assert items[1]["content"][0]["text"] == "The partial answer "
    assert len(fake.model_requests) == 1  # nothing retried the cancelled call


def _wait_for_saved_reply(app: LiveApp, thread_id: str) -> list[dict[str, Any]]:
    """The thread's items once the partial reply is saved (the save follows the disconnect)."""
    deadline = time.monotonic() + 5
    items = app.items(thread_id)
    while len(items) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
        items = app.items(thread_id)
    return items
