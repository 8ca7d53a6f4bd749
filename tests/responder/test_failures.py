"""Each model failure ends the stream with an ``error`` event the client can show, and is logged."""

import time

import pytest

from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.responder.conftest import MODEL_KINDS, RecordingHandler, live_app, model_settings
from tests.support.live import free_port

FAILURES = [
    pytest.param(
        Reply(status=401),
        "The assistant's model server rejected this server's credentials. "
        "An administrator needs to check its API key.",
        False,
        "unauthorized",
        id="401",
    ),
    pytest.param(
        Reply(status=429),
        "The assistant's model server is busy (rate limited). Wait a moment and try again.",
        True,
        "rate_limited",
        id="429",
    ),
    pytest.param(
        Reply(status=500),
        "The assistant's model server had an internal error. Try again.",
        True,
        "server_error",
        id="500",
    ),
    pytest.param(
        Reply(text="one two three four five", cut_after_tokens=2),
        "The connection to the assistant's model server was lost. Try again.",
        True,
        "connection_lost",
        id="cut-mid-stream",
    ),
    pytest.param(
        Reply(text="one two three four five", malformed_after_tokens=2),
        "The assistant's model server sent a response that could not be read. Try again.",
        True,
        "bad_response",
        id="malformed-chunk",
    ),
]


@pytest.mark.parametrize("kind", MODEL_KINDS)
@pytest.mark.parametrize(("reply", "message", "allow_retry", "code"), FAILURES)
def test_model_failure_ends_stream_with_user_safe_error(
    kind: str,
    reply: Reply,
    message: str,
    allow_retry: bool,
    code: str,
    fake: FakeOpenAIServer,
    responder_log: RecordingHandler,
) -> None:
    fake.enqueue(reply)
    with live_app(model_settings(kind, fake)) as app:
        stream = app.create_thread("Hello")

    assert stream.status == 200
    assert stream.error == {
        "type": "error",
        "code": "custom",
        "message": message,
        "allow_retry": allow_retry,
    }
    assert stream.events[-1]["type"] in ("error", "thread.updated")
    assert "fake failure" not in str(stream.events)  # the upstream message stays in the log
    failures = [
        record for record in responder_log.records if getattr(record, "failure", None) == code
    ]
    assert len(failures) == 1
    assert failures[0].request_id == stream.request_id != ""  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_unreachable_model_server_ends_stream_with_retryable_error(
    kind: str, fake: FakeOpenAIServer, responder_log: RecordingHandler
) -> None:
    settings = model_settings(kind, fake, model_base_url=f"http://127.0.0.1:{free_port()}/v1")
    with live_app(settings) as app:
        stream = app.create_thread("Hello")

    assert stream.error == {
        "type": "error",
        "code": "custom",
        "message": "The assistant's model server could not be reached. Try again in a moment.",
        "allow_retry": True,
    }
    assert [
        getattr(record, "request_id", None)
        for record in responder_log.records
        if getattr(record, "failure", None) == "unreachable"
    ] == [stream.request_id]


TIMEOUT_MESSAGE = "The assistant's model took too long to respond. Try again."


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_model_silent_before_first_token_times_out(kind: str, fake: FakeOpenAIServer) -> None:
    fake.enqueue(Reply(text="too late", first_token_delay=30))
    settings = model_settings(kind, fake, model_first_token_timeout=0.5, model_idle_timeout=5.0)
    with live_app(settings) as app:
        started = time.monotonic()
        stream = app.create_thread("Hello")
        elapsed = time.monotonic() - started
        # The stalled request to the model server was closed, not left open.
        assert fake.wait_until(lambda: not fake.model_requests[0].connection.is_open, timeout=2)

    assert stream.error == {
        "type": "error",
        "code": "custom",
        "message": TIMEOUT_MESSAGE,
        "allow_retry": True,
    }
    assert 0.5 <= elapsed < 3.0


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_model_stalling_between_tokens_times_out_and_keeps_partial_text(
    kind: str, fake: FakeOpenAIServer
) -> None:
    fake.enqueue(Reply(text="Partial answer that stops here", stall_after_tokens=2))
    settings = model_settings(kind, fake, model_first_token_timeout=5.0, model_idle_timeout=0.5)
    with live_app(settings) as app:
        started = time.monotonic()
        stream = app.create_thread("Hello")
        elapsed = time.monotonic() - started
        items = app.items(stream.thread_id)

    assert stream.error == {
        "type": "error",
        "code": "custom",
        "message": TIMEOUT_MESSAGE,
        "allow_retry": True,
    }
    assert elapsed < 3.0
    assert stream.assistant_text == "Partial answer "
    assert [item["type"] for item in items] == ["user_message", "assistant_message"]
    assert items[1]["content"][0]["text"] == "Partial answer "


def test_failed_first_reply_still_titles_the_thread(fake: FakeOpenAIServer) -> None:
    fake.enqueue(Reply(status=500))
    with live_app(model_settings("openai-compatible", fake)) as app:
        stream = app.create_thread("Plan a trip to Lisbon in May please")

    assert (
        stream.error["message"] == "The assistant's model server had an internal error. Try again."
    )
    updated = stream.of_type("thread.updated")
    assert updated[-1]["thread"]["title"] == "Plan a trip to Lisbon in"
    assert fake.completion_requests == []  # no title call to a failing model
