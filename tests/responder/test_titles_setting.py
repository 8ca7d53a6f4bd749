"""``CHATKIT_TITLES``: a model-written title (one more model call) or the first words (none)."""

from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.responder.conftest import live_app, model_settings


def test_first_words_titles_make_no_model_call(fake: FakeOpenAIServer) -> None:
    fake.enqueue(Reply(text="Sure."))
    with live_app(model_settings("openai-compatible", fake, titles="first-words")) as app:
        stream = app.create_thread("Plan a weekend trip to the coast in June")
    assert stream.of_type("thread.updated")[-1]["thread"]["title"] == "Plan a weekend trip to the"
    assert fake.completion_requests == []
    assert len(fake.model_requests) == 1


def test_model_titles_are_one_call_with_the_message(fake: FakeOpenAIServer) -> None:
    fake.completion_reply = Reply(text="Coastal Weekend Trip")
    fake.enqueue(Reply(text="Sure."))
    with live_app(model_settings("openai", fake)) as app:
        stream = app.create_thread("Plan a weekend trip to the coast in June")
    assert stream.of_type("thread.updated")[-1]["thread"]["title"] == "Coastal Weekend Trip"
    [request] = fake.completion_requests
    assert "Plan a weekend trip to the coast in June" in request.text
    assert "titles for chat conversations" in request.text
