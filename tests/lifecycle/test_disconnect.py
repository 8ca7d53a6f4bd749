"""``CHATKIT_ON_DISCONNECT``: with ``finish`` a reply whose client went away runs to its end
and is saved whole; a stop request (``POST /chatkit/stop``, what the front end sends for
its stop button) still cancels it. With ``cancel`` (the default) the stop request
cancels a reply too, and a closed connection does as before."""

from collections.abc import Iterator

import httpx
import pytest

from tests.lifecycle.harness import STORE_KINDS, Live, Streaming, message, served
from tests.support.wait import poll

TOKEN_DELAY = 0.03


@pytest.fixture(scope="module", params=STORE_KINDS)
def finishing(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    with served(
        request.param,
        tmp_path_factory.mktemp("finish"),
        request,
        settings={"offline_token_delay": TOKEN_DELAY, "on_disconnect": "finish"},
    ) as app:
        yield app


@pytest.fixture(scope="module", params=STORE_KINDS)
def cancelling(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    with served(
        request.param,
        tmp_path_factory.mktemp("cancel"),
        request,
        settings={"offline_token_delay": TOKEN_DELAY},
    ) as app:
        yield app


def _assistant_texts(live: Live, thread_id: str) -> list[str]:
    return [
        "".join(part["text"] for part in item["content"])
        for item in live.items(thread_id)
        if item["type"] == "assistant_message"
    ]


def _saved_replies(live: Live, thread_id: str, count: int) -> list[str]:
    def saved() -> list[str] | None:
        texts = _assistant_texts(live, thread_id)
        return texts if len(texts) == count else None

    return poll(saved, f"{count} assistant messages saved", within=15)


def _stop(live: Live, request_id: str) -> httpx.Response:
    return httpx.post(f"{live.base_url}/chatkit/stop", json={"request_id": request_id}, timeout=30)


def test_finish_saves_the_whole_reply_of_a_client_that_went_away(finishing: Live) -> None:
    thread_id, _ = finishing.create_thread("first")
    reply = Streaming(finishing, message(thread_id, "the same words"))
    reply.wait_for("thread.item.updated")
    reply.disconnect()
    received = "".join(
        e["update"].get("delta", "") for e in reply.lines if e["type"] == "thread.item.updated"
    )

    whole = _saved_replies(finishing, thread_id, 2)[1]
    reference = finishing.events(message(thread_id, "the same words"))
    done = [e["item"] for e in reference if e["type"] == "thread.item.done"]
    assert whole == "".join(part["text"] for part in done[-1]["content"])
    assert len(received) < len(whole)  # the client saw only the start
    kinds = [item["type"] for item in finishing.items(thread_id)]
    assert kinds == ["user_message", "assistant_message"] * 3  # no "stopped" reply


def test_finish_still_stops_a_reply_on_a_stop_request(finishing: Live) -> None:
    thread_id, _ = finishing.create_thread("first")
    full = _assistant_texts(finishing, thread_id)[0]
    reply = Streaming(finishing, message(thread_id, "first"), headers={"X-Request-ID": "stop-1"})
    reply.wait_for("thread.item.updated")
    reply.disconnect()  # the stop button aborts the fetch, then the page sends the stop
    stopped = _stop(finishing, "stop-1")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json() == {"stopping": True}
    partial = _saved_replies(finishing, thread_id, 2)[1]
    assert 0 < len(partial) < len(full)
    assert full.startswith(partial)
    poll(
        lambda: finishing.post(message(thread_id, "go on")).status_code == 200,
        "the thread free again",
    )


def test_a_stop_request_for_no_running_reply_stops_nothing(finishing: Live) -> None:
    assert _stop(finishing, "never-sent").json() == {"stopping": False}
    missing = httpx.post(f"{finishing.base_url}/chatkit/stop", json={}, timeout=30)
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "invalid_request"
    assert "request_id" in missing.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "headers", "status", "code", "message"),
    [
        (
            b"",
            {},
            400,
            "empty_body",
            'request body is empty: POST {"request_id": "<X-Request-ID>"}',
        ),
        (
            b"{",
            {"Content-Type": "application/json"},
            400,
            "invalid_json",
            "body is not valid JSON: ",
        ),
        (b'{"request_id": 5}', {}, 422, "invalid_request", "invalid stop request: request_id: "),
        (b'{"request_id": "a", "x": 1}', {}, 422, "invalid_request", "invalid stop request: x: "),
    ],
    ids=["empty", "not-json", "not-a-string", "extra-field"],
)
def test_a_bad_stop_request_is_refused_like_a_bad_chatkit_request(
    finishing: Live, body: bytes, headers: dict[str, str], status: int, code: str, message: str
) -> None:
    answer = httpx.post(
        f"{finishing.base_url}/chatkit/stop", content=body, headers=headers, timeout=30
    )
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code
    assert error["message"].startswith(message)


def test_a_stop_request_is_read_whatever_its_content_type(finishing: Live) -> None:
    """As the ChatKit endpoint: curl -d sends application/x-www-form-urlencoded."""
    answer = httpx.post(
        f"{finishing.base_url}/chatkit/stop",
        content=b'{"request_id": "never-sent"}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"stopping": False}


def test_cancel_stops_a_reply_on_a_stop_request_and_ends_its_stream(cancelling: Live) -> None:
    thread_id, _ = cancelling.create_thread("first")
    full = _assistant_texts(cancelling, thread_id)[0]
    reply = Streaming(cancelling, message(thread_id, "first"), headers={"X-Request-ID": "stop-2"})
    reply.wait_for("thread.item.updated")
    assert _stop(cancelling, "stop-2").json() == {"stopping": True}
    events = reply.finish(within=15)  # the server ends the stream
    assert not any(e["type"] == "error" for e in events)
    partial = _saved_replies(cancelling, thread_id, 2)[1]
    assert 0 < len(partial) < len(full)


def test_cancel_stops_the_reply_of_a_client_that_went_away(cancelling: Live) -> None:
    thread_id, _ = cancelling.create_thread("first")
    full = _assistant_texts(cancelling, thread_id)[0]
    reply = Streaming(cancelling, message(thread_id, "first"))
    reply.wait_for("thread.item.updated")
    reply.disconnect()
    partial = _saved_replies(cancelling, thread_id, 2)[1]
    assert 0 < len(partial) < len(full)
