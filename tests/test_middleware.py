"""The request middleware on a real uvicorn: request ids, the access log, and the last-resort 500."""

import json
import re
import socket
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from chatkit.server import ChatKitServer
from chatkit.store import AttachmentStore, Store
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    AudioInput,
    ThreadItemAddedEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    TranscriptionResult,
    UserMessageItem,
)

from chatkit_backend.context import RequestContext
from chatkit_backend.errors import INTERNAL_ERROR_MESSAGE
from tests.routes.live_app import (
    captured_log,
    create_body,
    error_of,
    events_of,
    make_settings,
    post,
    serve,
    wait_for_log,
)

LIST = {"type": "threads.list", "params": {}}
TRANSCRIBE = {
    "type": "input.transcribe",
    "params": {"audio_base64": "AAAA", "mime_type": "audio/webm"},
}
SECRET_DETAIL = "connection string postgres://admin:hunter2@db"


class FaultyServer(ChatKitServer[RequestContext]):
    """A test-only server: transcription fails with an unexpected error, replies fail mid-stream."""

    def __init__(
        self, store: Store[RequestContext], attachment_store: AttachmentStore[RequestContext] | None
    ) -> None:
        super().__init__(store, attachment_store)

    async def transcribe(
        self, audio_input: AudioInput, context: RequestContext
    ) -> TranscriptionResult:
        raise RuntimeError(f"transcriber crashed: {SECRET_DETAIL}")

    async def respond(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        item = AssistantMessageItem(
            id="msg_partial",
            thread_id=thread.id,
            created_at=datetime.now(),
            content=[AssistantMessageContent(text="")],
        )
        yield ThreadItemAddedEvent(item=item)
        yield ThreadItemUpdatedEvent(
            item_id=item.id,
            update=AssistantMessageContentPartTextDelta(content_index=0, delta="Hal"),
        )
        raise RuntimeError(f"model crashed: {SECRET_DETAIL}")


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_request_id_is_echoed(tmp_path: Path) -> None:
    with serve(make_settings(tmp_path, attachments=False)) as (base_url, _):
        response = post(base_url, LIST, headers={"X-Request-ID": "client-id.42:abc"})
        assert response.headers["x-request-id"] == "client-id.42:abc"
        error = error_of(post(base_url, b"", headers={"X-Request-ID": "client-id-err"}), 400)
        assert error["request_id"] == "client-id-err"


@pytest.mark.parametrize("given", [None, "has space", "x" * 129, "semi;colon", ""])
def test_request_id_is_generated_when_missing_or_unsafe(tmp_path: Path, given: str | None) -> None:
    headers = {} if given is None else {"X-Request-ID": given}
    with serve(make_settings(tmp_path, attachments=False)) as (base_url, _):
        first = httpx.get(base_url + "/healthz", headers=headers)
        second = httpx.get(base_url + "/healthz", headers=headers)
    assert re.fullmatch("[0-9a-f]{32}", first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_streams_carry_the_request_id(tmp_path: Path) -> None:
    with serve(make_settings(tmp_path, attachments=False)) as (base_url, _):
        response = post(base_url, create_body(), headers={"X-Request-ID": "stream-1"})
        assert response.headers["x-request-id"] == "stream-1"
        assert events_of(response)


def test_one_access_log_line_per_request(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, attachments=False, log_format="json")
    with serve(settings) as (base_url, _), captured_log("json") as log:
        post(base_url, LIST, headers={"X-Request-ID": "req-list"})
        post(base_url, create_body(), headers={"X-Request-ID": "req-create"})
        post(base_url, {"type": "nope"}, headers={"X-Request-ID": "req-bad"})
        httpx.get(base_url + "/healthz", headers={"X-Request-ID": "req-health"})
        httpx.get(base_url + "/nowhere", headers={"X-Request-ID": "req-404"})
        text = wait_for_log(log, '"request_id": "req-404"')
    access = [line for line in _json_lines(text) if line["logger"] == "chatkit_backend.access"]
    by_id = {line["request_id"]: line for line in access}
    ids = ["req-list", "req-create", "req-bad", "req-health", "req-404"]
    assert [line["request_id"] for line in access if line["request_id"] in ids] == ids
    expected = {
        "req-list": ("threads.list", 200, "POST"),
        "req-create": ("threads.create", 200, "POST"),
        "req-bad": ("POST /chatkit", 422, "POST"),
        "req-health": ("GET /healthz", 200, "GET"),
        "req-404": ("unmatched", 404, "GET"),
    }
    for request_id, (operation, status, method) in expected.items():
        line = by_id[request_id]
        assert (line["operation"], line["status"], line["method"]) == (operation, status, method)
        assert line["level"] == "INFO"
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    assert by_id["req-create"]["message"].startswith(
        '127.0.0.1 "POST /chatkit" 200 threads.create '
    )


def test_text_access_log_line_has_the_request_id(tmp_path: Path) -> None:
    with serve(make_settings(tmp_path, attachments=False)) as (base_url, _), captured_log() as log:
        post(base_url, LIST, headers={"X-Request-ID": "text-line-1"})
        text = wait_for_log(log, "[text-line-1]")
    lines = [line for line in text.splitlines() if "[text-line-1]" in line]
    assert len(lines) == 1
    assert re.search(
        r'INFO chatkit_backend\.access \[text-line-1\] 127\.0\.0\.1 "POST /chatkit" 200 threads\.list \d+\.\dms$',
        lines[0],
    )


def test_unexpected_fault_is_a_generic_500_with_the_details_in_the_log(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, attachments=False)
    with serve(settings, server=FaultyServer) as (base_url, _), captured_log() as log:
        response = post(base_url, TRANSCRIBE, headers={"X-Request-ID": "fault-1"})
        follow_up = post(base_url, LIST, headers={"X-Request-ID": "after-fault"})
        text = wait_for_log(log, "[after-fault]")
    error = error_of(response, 500)
    assert error == {
        "code": "internal_error",
        "message": INTERNAL_ERROR_MESSAGE,
        "request_id": "fault-1",
    }
    assert "crashed" not in response.text and "hunter2" not in response.text
    assert follow_up.status_code == 200
    assert "ERROR chatkit_backend.errors [fault-1] unhandled error on POST /chatkit" in text
    assert "Traceback (most recent call last)" in text
    assert f"RuntimeError: transcriber crashed: {SECRET_DETAIL}" in text
    assert '[fault-1] 127.0.0.1 "POST /chatkit" 500 input.transcribe' in text


def test_fault_inside_a_stream_ends_it_with_an_error_event(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, attachments=False)
    with serve(settings, server=FaultyServer) as (base_url, _), captured_log() as log:
        response = post(base_url, create_body(), headers={"X-Request-ID": "stream-fault"})
        text = wait_for_log(log, '[stream-fault] 127.0.0.1 "POST /chatkit" 200 threads.create')
    events = events_of(response)
    assert events[-1] == {"type": "error", "code": "stream.error", "allow_retry": True}
    assert "hunter2" not in response.text
    assert "RuntimeError: model crashed" in text


def test_client_gone_before_its_body_is_logged_as_499_without_a_traceback(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, attachments=False)
    with serve(settings) as (base_url, _), captured_log() as log:
        with socket.create_connection(("127.0.0.1", settings.port)) as sock:
            sock.sendall(
                b"POST /chatkit HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-ID: gone-early\r\n"
                b"Content-Length: 5000\r\n\r\n" + b'{"type": "threads.list"'
            )
            # A stall on purpose: the client is slow mid-body, then leaves (the behaviour tested).
            time.sleep(0.3)
        wait_for_log(log, "[gone-early]")
        assert httpx.get(base_url + "/healthz").status_code == 200
    text = log.getvalue()
    assert '[gone-early] 127.0.0.1 "POST /chatkit" 499 POST /chatkit' in text
    assert "Traceback" not in text
    assert "unhandled error" not in text


def test_unexpected_fault_answer_is_readable_by_an_allowed_browser_origin(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, attachments=False)
    origin = "http://localhost:3000"
    with serve(settings, server=FaultyServer) as (base_url, _), captured_log():
        response = post(base_url, TRANSCRIBE, headers={"X-Request-ID": "fault-2", "Origin": origin})
    assert error_of(response, 500)["request_id"] == "fault-2"
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["x-request-id"] == "fault-2"
