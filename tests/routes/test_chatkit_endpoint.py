"""POST on the ChatKit endpoint against a real uvicorn: content types, and every error's status and body."""

import json
import re
from pathlib import Path

import httpx
import pytest

from chatkit_backend.routes.chatkit import EMPTY_BODY_MESSAGE
from chatkit_backend.server.chatkit_server import TRANSCRIPTION_NOT_CONFIGURED
from chatkit_backend.server.dispatch import ATTACHMENTS_NOT_CONFIGURED, REQUEST_TYPES
from tests.routes.live_app import (
    add_message_body,
    assistant_text,
    create_body,
    create_thread,
    error_of,
    events_of,
    make_settings,
    post,
    serve,
)

EXPECTED_TYPES = ", ".join(REQUEST_TYPES)


# -- success: content types ------------------------------------------------------------------
def test_threads_create_streams_server_sent_events(base_url: str) -> None:
    response = post(base_url, create_body("hello there"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    events = events_of(response)
    types = [event["type"] for event in events]
    assert types[:3] == ["thread.created", "thread.item.done", "stream_options"]
    assert events[1]["item"]["type"] == "user_message"
    assert events[1]["item"]["content"][0]["text"] == "hello there"
    assert "thread.item.updated" in types
    assert assistant_text(events)


def test_threads_list_answers_json_and_shows_the_created_thread(base_url: str) -> None:
    thread_id, _ = create_thread(base_url)
    response = post(base_url, {"type": "threads.list", "params": {"limit": 100, "order": "desc"}})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert thread_id in [thread["id"] for thread in response.json()["data"]]


def test_add_user_message_streams_on_an_existing_thread(base_url: str) -> None:
    thread_id, _ = create_thread(base_url)
    response = post(base_url, add_message_body(thread_id, "second"))
    assert response.headers["cache-control"] == "no-cache"
    events = events_of(response)
    assert events[0]["type"] == "thread.item.done"
    assert events[0]["item"]["thread_id"] == thread_id
    assert assistant_text(events)


def test_non_streaming_operations_answer_json(base_url: str) -> None:
    thread_id, _ = create_thread(base_url)
    requests = [
        {"type": "threads.get_by_id", "params": {"thread_id": thread_id}},
        {"type": "items.list", "params": {"thread_id": thread_id}},
        {"type": "threads.update", "params": {"thread_id": thread_id, "title": "Renamed"}},
        {"type": "threads.delete", "params": {"thread_id": thread_id}},
    ]
    for body in requests:
        response = post(base_url, body)
        assert response.status_code == 200, (body, response.text)
        assert response.headers["content-type"] == "application/json"
        assert "cache-control" not in response.headers
    assert error_of(post(base_url, requests[0]), 404)["code"] == "not_found"


def test_items_feedback_answers_an_empty_object(base_url: str) -> None:
    thread_id, events = create_thread(base_url)
    item_id = events[1]["item"]["id"]
    response = post(
        base_url,
        {
            "type": "items.feedback",
            "params": {"thread_id": thread_id, "item_ids": [item_id], "kind": "positive"},
        },
    )
    assert response.status_code == 200
    assert response.json() == {}


# -- 400: empty or not JSON ------------------------------------------------------------------
@pytest.mark.parametrize("body", [b"", b"   \n\t "])
def test_empty_body_is_400(base_url: str, body: bytes) -> None:
    error = error_of(post(base_url, body), 400)
    assert error == {**error, "code": "empty_body", "message": EMPTY_BODY_MESSAGE}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{not json", "key must be a string"),
        (b'{"type": "threads.list"', "EOF while parsing an object"),
        (b"\xff\xfe\x00garbage", "expected value at line 1 column 1"),
        (b"type=threads.list", "expected ident at line 1 column 2"),
    ],
)
def test_body_that_is_not_json_is_400(base_url: str, body: bytes, detail: str) -> None:
    error = error_of(post(base_url, body), 400)
    assert error["code"] == "invalid_json"
    assert error["message"].startswith("body is not valid JSON: ")
    assert detail in error["message"]


# -- 422: JSON but not a ChatKit request ---------------------------------------------------
@pytest.mark.parametrize("body", [b"[]", b'"threads.list"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object_is_422(base_url: str, body: bytes) -> None:
    error = error_of(post(base_url, body), 422)
    assert error["code"] == "invalid_request"
    assert error["message"] == "body must be a JSON object with a 'type' field"


def test_missing_type_is_422_listing_the_types(base_url: str) -> None:
    error = error_of(post(base_url, {"params": {}}), 422)
    assert error["message"] == f"type: field required; expected one of: {EXPECTED_TYPES}"


def test_unknown_type_is_422_naming_it(base_url: str) -> None:
    error = error_of(post(base_url, {"type": "threads.explode", "params": {}}), 422)
    assert (
        error["message"]
        == f"type: unknown request type 'threads.explode'; expected one of: {EXPECTED_TYPES}"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"type": "threads.get_by_id"},
            "invalid threads.get_by_id request: params: Field required",
        ),
        (
            {"type": "threads.get_by_id", "params": {}},
            "invalid threads.get_by_id request: params.thread_id: Field required",
        ),
        (
            {"type": "threads.get_by_id", "params": {"thread_id": 5}},
            "invalid threads.get_by_id request: params.thread_id: Input should be a valid string",
        ),
        (
            {"type": "threads.list", "params": {"limit": "many"}},
            "invalid threads.list request: params.limit: Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            {"type": "threads.list", "params": {"order": "sideways"}},
            "invalid threads.list request: params.order: Input should be 'asc' or 'desc'",
        ),
        (
            {
                "type": "threads.create",
                "params": {"input": {"attachments": [], "inference_options": {}}},
            },
            "invalid threads.create request: params.input.content: Field required",
        ),
        (
            {
                "type": "threads.create",
                "params": {
                    "input": {
                        "content": [{"type": "input_video", "url": "x"}],
                        "attachments": [],
                        "inference_options": {},
                    }
                },
            },
            "invalid threads.create request: params.input.content.0: Input tag 'input_video' found using 'type' does not match any of the expected tags: 'input_text', 'input_tag'",
        ),
        (
            {
                "type": "items.feedback",
                "params": {"thread_id": "t", "item_ids": ["i"], "kind": "meh"},
            },
            "invalid items.feedback request: params.kind: Input should be 'positive' or 'negative'",
        ),
    ],
)
def test_invalid_params_are_422_naming_the_field_path(
    base_url: str, body: dict[str, object], message: str
) -> None:
    error = error_of(post(base_url, body), 422)
    assert error["code"] == "invalid_request"
    assert error["message"] == message


@pytest.mark.parametrize("limit", [-1, 1001, 10**22])
def test_page_limit_out_of_range_is_422(base_url: str, limit: int) -> None:
    for body in (
        {"type": "threads.list", "params": {"limit": limit}},
        {"type": "items.list", "params": {"thread_id": "thr_any", "limit": limit}},
    ):
        error = error_of(post(base_url, body), 422)
        assert (
            error["message"]
            == f"invalid {body['type']} request: params.limit: must be between 1 and 1000 (0 or none: the default page size)"
        )


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("", "must not be empty"),
        (" \n\t", "must not be empty"),
        ("x" * 501, "must be at most 500 characters (got 501)"),
    ],
)
def test_bad_thread_title_is_422_and_changes_nothing(
    base_url: str, title: str, message: str
) -> None:
    thread_id, _ = create_thread(base_url)
    error = error_of(
        post(
            base_url, {"type": "threads.update", "params": {"thread_id": thread_id, "title": title}}
        ),
        422,
    )
    assert error["message"] == f"invalid threads.update request: params.title: {message}"
    body = {"type": "threads.get_by_id", "params": {"thread_id": thread_id}}
    assert post(base_url, body).json()["title"] != title


def test_thread_title_of_500_characters_is_taken(base_url: str) -> None:
    thread_id, _ = create_thread(base_url)
    body = {"type": "threads.update", "params": {"thread_id": thread_id, "title": "y" * 500}}
    assert post(base_url, body).json()["title"] == "y" * 500


def test_page_limit_zero_means_the_default_page(base_url: str) -> None:
    response = post(base_url, {"type": "threads.list", "params": {"limit": 0}})
    assert response.status_code == 200


def test_many_invalid_fields_are_listed_up_to_five(base_url: str) -> None:
    params = {"thread_id": 1, "item_ids": [1, 2, 3, 4, 5, 6], "kind": "meh"}
    error = error_of(post(base_url, {"type": "items.feedback", "params": params}), 422)
    assert error["message"].startswith(
        "invalid items.feedback request: params.thread_id: Input should be a valid string; "
    )
    assert error["message"].count("Input should be") == 5
    assert error["message"].endswith("(and 3 more)")


# -- 404: references that do not exist, before any stream starts ------------------------------
def test_get_of_a_missing_thread_is_404(base_url: str) -> None:
    error = error_of(
        post(base_url, {"type": "threads.get_by_id", "params": {"thread_id": "thr_missing"}}), 404
    )
    assert error["code"] == "not_found"
    assert "thr_missing" in error["message"]


@pytest.mark.parametrize("kind", ["items.list", "threads.delete"])
def test_operations_on_a_missing_thread_are_404(base_url: str, kind: str) -> None:
    error = error_of(post(base_url, {"type": kind, "params": {"thread_id": "thr_missing"}}), 404)
    assert error["message"] == "thread 'thr_missing' not found"


def test_update_of_a_missing_thread_is_404(base_url: str) -> None:
    body = {"type": "threads.update", "params": {"thread_id": "thr_missing", "title": "x"}}
    assert error_of(post(base_url, body), 404)["code"] == "not_found"


def test_add_user_message_to_a_missing_thread_is_404_before_the_stream(base_url: str) -> None:
    response = post(base_url, add_message_body("thr_missing"))
    error = error_of(response, 404)
    assert error["message"] == "thread 'thr_missing' not found"
    assert "cache-control" not in response.headers


def test_retry_after_a_missing_item_is_404_before_the_stream(base_url: str) -> None:
    thread_id, _ = create_thread(base_url)
    body = {
        "type": "threads.retry_after_item",
        "params": {"thread_id": thread_id, "item_id": "msg_missing"},
    }
    error = error_of(post(base_url, body), 404)
    assert error["message"] == f"item 'msg_missing' not found in thread '{thread_id}'"


def test_retry_after_an_assistant_message_is_422(base_url: str) -> None:
    thread_id, events = create_thread(base_url)
    assistant_id = next(
        event["item"]["id"]
        for event in events
        if event["type"] == "thread.item.done" and event["item"]["type"] == "assistant_message"
    )
    body = {
        "type": "threads.retry_after_item",
        "params": {"thread_id": thread_id, "item_id": assistant_id},
    }
    error = error_of(post(base_url, body), 422)
    assert error["message"] == f"params.item_id: item {assistant_id!r} is not a user message"


def test_retry_after_a_user_message_streams_a_new_reply(base_url: str) -> None:
    thread_id, events = create_thread(base_url)
    user_id = events[1]["item"]["id"]
    body = {
        "type": "threads.retry_after_item",
        "params": {"thread_id": thread_id, "item_id": user_id},
    }
    assert assistant_text(events_of(post(base_url, body)))


def test_client_tool_output_without_a_pending_call_is_409(base_url: str) -> None:
    thread_id, _ = create_thread(base_url)
    body = {
        "type": "threads.add_client_tool_output",
        "params": {"thread_id": thread_id, "result": {"ok": True}},
    }
    error = error_of(post(base_url, body), 409)
    assert error["message"] == f"thread {thread_id!r} has no pending client tool call"


def test_custom_action_on_a_missing_thread_is_404(base_url: str) -> None:
    body = {
        "type": "threads.custom_action",
        "params": {
            "thread_id": "thr_missing",
            "item_id": None,
            "action": {"type": "x", "payload": {}},
        },
    }
    assert error_of(post(base_url, body), 404)["message"] == "thread 'thr_missing' not found"


def test_create_with_an_unknown_attachment_is_404_and_leaves_no_thread(base_url: str) -> None:
    before = post(base_url, {"type": "threads.list", "params": {"limit": 100}}).json()["data"]
    error = error_of(post(base_url, create_body(attachments=["atc_missing"])), 404)
    assert error["message"] == "attachment 'atc_missing' not found"
    after = post(base_url, {"type": "threads.list", "params": {"limit": 100}}).json()["data"]
    assert after == before


# -- 501: features not configured --------------------------------------------------------------
def test_attachments_create_without_an_attachment_store_is_501(base_url: str) -> None:
    body = {
        "type": "attachments.create",
        "params": {"name": "a.txt", "size": 3, "mime_type": "text/plain"},
    }
    error = error_of(post(base_url, body), 501)
    assert error == {**error, "code": "not_configured", "message": ATTACHMENTS_NOT_CONFIGURED}


def test_attachments_delete_without_an_attachment_store_is_501(base_url: str) -> None:
    body = {"type": "attachments.delete", "params": {"attachment_id": "atc_1"}}
    assert error_of(post(base_url, body), 501)["message"] == ATTACHMENTS_NOT_CONFIGURED


def test_transcription_without_a_model_is_501(base_url: str) -> None:
    body = {
        "type": "input.transcribe",
        "params": {"audio_base64": "AAAA", "mime_type": "audio/webm"},
    }
    error = error_of(post(base_url, body), 501)
    assert error == {**error, "code": "not_configured", "message": TRANSCRIPTION_NOT_CONFIGURED}


def test_transcription_of_invalid_base64_is_422(base_url: str) -> None:
    body = {
        "type": "input.transcribe",
        "params": {"audio_base64": "not base64!", "mime_type": "audio/webm"},
    }
    error = error_of(post(base_url, body), 422)
    assert (
        error["message"]
        == "invalid input.transcribe request: params.audio_base64: not valid base64"
    )


# -- 413 and 405 -----------------------------------------------------------------------------------
def test_body_over_the_limit_is_413(base_url: str) -> None:
    body = create_body("x" * 5000)
    error = error_of(post(base_url, body), 413)
    assert error["code"] == "payload_too_large"
    assert (
        error["message"]
        == "request body is larger than the limit of 4096 bytes (CHATKIT_MAX_BODY_BYTES)"
    )


def test_chunked_body_over_the_limit_is_413(base_url: str) -> None:
    def chunks() -> object:
        for _ in range(10):
            yield b" " * 1000

    response = httpx.post(base_url + "/chatkit", content=chunks(), timeout=30)  # type: ignore[arg-type]
    assert "content-length" not in response.request.headers
    assert error_of(response, 413)["code"] == "payload_too_large"


def test_body_at_the_limit_is_read(base_url: str) -> None:
    body = json.dumps({"type": "threads.list", "params": {}}).encode()
    padded = body + b" " * (4096 - len(body))
    assert post(base_url, padded).status_code == 200


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_405(base_url: str, method: str) -> None:
    response = httpx.request(method, base_url + "/chatkit", timeout=10)
    error = error_of(response, 405)
    assert error["code"] == "method_not_allowed"
    assert error["message"] == f"method {method} is not allowed on /chatkit"
    assert response.headers["allow"] == "POST"


def test_unknown_path_is_404_in_the_same_shape(base_url: str) -> None:
    error = error_of(httpx.post(base_url + "/chatkit/extra", content=b"{}"), 404)
    assert error["message"] == "no route for POST /chatkit/extra"


# -- nothing a client sends gives a 500 --------------------------------------------------------
HOSTILE_BODIES: list[bytes] = [
    b"{}",
    b'{"type": null}',
    b'{"type": 7, "params": {}}',
    b'{"type": "threads.list", "params": null}',
    b'{"type": "threads.list", "params": {"limit": -1}}',
    b'{"type": "threads.list", "params": {"limit": 0}}',
    b'{"type": "threads.list", "params": {"limit": 99999999999999999999999}}',
    b'{"type": "threads.list", "params": {"after": "thr_nope"}}',
    b'{"type": "items.list", "params": {"thread_id": "", "limit": 1}}',
    b'{"type": "threads.get_by_id", "params": {"thread_id": "\\u0000"}}',
    b'{"type": "threads.get_by_id", "params": {"thread_id": "\\ud800"}}',
    b'{"type": "threads.get_by_id", "params": {"thread_id": "' + b"a" * 3000 + b'"}}',
    b'{"type": "threads.update", "params": {"thread_id": "x", "title": 5}}',
    b'{"type": "threads.create", "params": {"input": null}}',
    b'{"type": "threads.create", "params": {"input": {"content": [], "attachments": [], "inference_options": {}}}}',
    b'{"type": "threads.create", "params": {"input": {"content": "hi", "attachments": [], "inference_options": {}}}}',
    b'{"type": "threads.add_structured_input", "params": {"thread_id": "x", "item_id": "y", "input": {}}}',
    b'{"type": "threads.sync_custom_action", "params": {"thread_id": "x", "item_id": null, "action": {"type": "a"}}}',
    b'{"type": "items.feedback", "params": {"thread_id": "x", "item_ids": [], "kind": "positive"}}',
    b'{"type": "attachments.create", "params": {"name": "a", "size": -5, "mime_type": ""}}',
    b"[" * 2000 + b"]" * 2000,
    b'{"a":' * 600 + b"1" + b"}" * 600,
    b'{"type": "threads.list", "params": {}, "type": "threads.explode"}',
    b"\x00\x01\x02",
    '{"type": "threads.list", "params": {"order": "désc"}}'.encode(),
]


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
def test_hostile_bodies_never_cause_a_500(base_url: str, body: bytes) -> None:
    response = post(base_url, body)
    assert response.status_code in {200, 400, 404, 409, 413, 422, 501}, response.text
    if response.status_code >= 400:
        error_of(response, response.status_code)


def test_hostile_headers_never_cause_a_500(base_url: str) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=nonsense"),
        (b"accept-language", b"x" * 500),
        (b"x-request-id", "has spaces and \u00fcnicode".encode("latin-1")),
        (b"content-encoding", b"gzip"),
        (b"authorization", b"Bearer \xff\xfe"),
    ]
    response = post(base_url, {"type": "threads.list", "params": {}}, headers=headers)
    assert response.status_code == 200
    assert re.fullmatch("[0-9a-f]{32}", response.headers["x-request-id"])


# -- the default app, attachments on -------------------------------------------------------------------
def test_with_attachments_on_an_unknown_attachment_is_still_404_and_leaves_no_thread(
    tmp_path: Path,
) -> None:
    with serve(make_settings(tmp_path)) as (url, _):
        created = post(
            url,
            {
                "type": "attachments.create",
                "params": {"name": "a.txt", "size": 3, "mime_type": "text/plain"},
            },
        )
        assert created.status_code == 200, created.text
        assert created.headers["content-type"] == "application/json"
        assert created.json()["id"].startswith("atc_")
        error = error_of(post(url, create_body(attachments=["atc_missing"])), 404)
        assert error["message"] == "attachment 'atc_missing' not found"
        assert post(url, {"type": "threads.list", "params": {}}).json()["data"] == []
