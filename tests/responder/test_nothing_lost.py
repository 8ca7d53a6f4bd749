"""Whatever the streaming shortcuts (fast models, deltas sent together), every reply's stored
assistant message is exactly the text the client saw, delta by delta."""

import pytest

from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.responder.conftest import MODEL_KINDS, Stream, live_app, model_settings

WORDS = [f"w{n}" for n in range(300)]
REPLIES = {
    "300 deltas at once": Reply(text=" ".join(WORDS)),
    "unicode and escapes": Reply(text="naïve “quotes” \\ back\\slash \n new\tline 🙂 end"),
    "one word": Reply(text="Hi"),
    "paced": Reply(text="slow and steady words arrive", token_delay=0.01),
}


def client_text(stream: Stream) -> str:
    return "".join(
        event["update"]["delta"]
        for event in stream.of_type("thread.item.updated")
        if event["update"]["type"] == "assistant_message.content_part.text_delta"
    )


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_stored_reply_is_the_text_the_client_saw(kind: str, fake: FakeOpenAIServer) -> None:
    with live_app(model_settings(kind, fake)) as app:
        for name, reply in REPLIES.items():
            fake.enqueue(reply)
            stream = app.create_thread(f"reply {name}")
            items = app.items(stream.thread_id)
            stored = [item for item in items if item["type"] == "assistant_message"]
            assert len(stored) == 1, name
            stored_text = "".join(part["text"] for part in stored[0]["content"])
            assert client_text(stream) == stored_text == reply.text, name
        # A second turn in the same thread: its reply is stored apart, the same way.
        fake.enqueue(Reply(text=" ".join(WORDS[:50])))
        follow_up = app.add_message(stream.thread_id, "and more")
        items = app.items(stream.thread_id)
        assert client_text(follow_up) == items[-1]["content"][0]["text"] == " ".join(WORDS[:50])


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_a_reply_cut_short_keeps_exactly_what_was_shown(kind: str, fake: FakeOpenAIServer) -> None:
    fake.enqueue(Reply(text=" ".join(WORDS[:40]), cut_after_tokens=25))
    with live_app(model_settings(kind, fake)) as app:
        stream = app.create_thread("cut me off")
        items = app.items(stream.thread_id)
    stored = [item for item in items if item["type"] == "assistant_message"]
    shown = client_text(stream)
    assert shown == " ".join(WORDS[:25]) + " "
    assert [part["text"] for item in stored for part in item["content"]] == [shown]
    assert stream.of_type("error")
