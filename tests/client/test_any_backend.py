"""The client against ChatKit backends that are not chatkit-backend, and its parsing rules."""

import httpx
import pytest
from chatkit.types import ThreadItemDoneEvent

from chatkit_backend.client import (
    BadRequest,
    ChatKitClient,
    ChatKitError,
    InvalidRequest,
    ProtocolError,
    RateLimited,
    ServerError,
    ServiceUnavailable,
)
from chatkit_backend.client.errors import error_from_response
from chatkit_backend.client.sse import parse_event, sse_data
from tests.cli.samples import future_annotations
from tests.client.guide_backend import create_app as create_guide_app


async def test_send_gathers_a_reply_that_arrives_without_deltas() -> None:
    transport = httpx.ASGITransport(app=create_guide_app())
    async with ChatKitClient("http://guide", transport=transport) as client:
        reply = await client.send("ping")
        again = await client.send("pong", reply.thread_id)

    assert reply.text == "echo: ping"
    assert again.text == "echo: pong"
    assert again.thread_id == reply.thread_id


async def test_a_plain_text_500_is_a_server_error_with_its_text() -> None:
    transport = httpx.ASGITransport(app=create_guide_app(), raise_app_exceptions=False)
    async with ChatKitClient("http://guide", transport=transport) as client:
        with pytest.raises(ServerError) as caught:
            await client.get_thread("thr_missing")
    assert caught.value.status == 500
    assert caught.value.message == "Internal Server Error"


async def test_the_guides_422_pitfall_reads_as_the_field_fastapi_wanted() -> None:
    transport = httpx.ASGITransport(app=future_annotations.app)
    async with ChatKitClient("http://pitfall", transport=transport) as client:
        with pytest.raises(InvalidRequest) as caught:
            await client.list_threads()
    assert caught.value.status == 422
    assert caught.value.message == "query.request: Field required"


async def test_sse_data_joins_lines_and_skips_comments() -> None:
    async def lines() -> object:
        for line in [": keep-alive", 'data: {"a":', "data: 1}", "", "event: x", "data: 2", ""]:
            yield line

    assert [data async for data in sse_data(lines())] == ['{"a":\n1}', "2"]  # type: ignore[arg-type]


async def test_sse_data_yields_a_last_event_without_a_blank_line() -> None:
    async def lines() -> object:
        yield "data:{}"

    assert [data async for data in sse_data(lines())] == ["{}"]  # type: ignore[arg-type]


def test_parse_event_builds_the_sdk_type() -> None:
    event = parse_event(
        '{"type": "thread.item.done", "item": {"type": "assistant_message", "id": "m", '
        '"thread_id": "t", "created_at": "2026-01-01T00:00:00", "content": [{"text": "hi"}]}}'
    )
    assert isinstance(event, ThreadItemDoneEvent)


def test_an_unknown_event_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_event('{"type": "no.such.event"}')
    assert caught.value.code == "protocol_error"
    assert "no.such.event" in caught.value.message


def _response(status: int, body: bytes, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, content=body, headers=headers, request=httpx.Request("POST", "http://x/chatkit")
    )


def test_backend_error_body_fills_every_field() -> None:
    body = b'{"error": {"code": "invalid_json", "message": "body is not valid JSON", "request_id": "r1"}}'
    error = error_from_response(_response(400, body), body)

    assert isinstance(error, BadRequest)
    assert (error.status, error.code, error.message, error.request_id) == (
        400,
        "invalid_json",
        "body is not valid JSON",
        "r1",
    )
    assert str(error) == "400 invalid_json: body is not valid JSON"


def test_guide_error_string_and_header_request_id() -> None:
    body = b'{"error": "No request body"}'
    error = error_from_response(_response(400, body, **{"X-Request-ID": "hdr-1"}), body)

    assert (error.code, error.message, error.request_id) == (
        "bad_request",
        "No request body",
        "hdr-1",
    )


def test_rate_limited_reads_retry_after_seconds() -> None:
    error = error_from_response(_response(429, b"", **{"Retry-After": "7"}), b"")

    assert isinstance(error, RateLimited)
    assert error.retry_after == 7.0
    assert error.message == "Too Many Requests"


def test_statuses_without_their_own_class_fall_back_by_range() -> None:
    unavailable = error_from_response(_response(503, b"down"), b"down")
    teapot = error_from_response(_response(418, b""), b"")
    gateway = error_from_response(_response(502, b""), b"")

    assert isinstance(unavailable, ServiceUnavailable) and unavailable.message == "down"
    assert type(teapot) is ChatKitError and teapot.status == 418
    assert type(gateway) is ServerError and gateway.code == "internal_error"
