"""Helpers for attachment tests: users by header, sample files, a small ChatKit client."""

import json
import secrets
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import Request

from chatkit_backend.context import RequestContext
from tests.support.bodies import user_input
from tests.support.live import sse_events

USER_HEADER = "X-Test-User"
SECRET = "attachments-test-secret"
TEXT_BODY = "line one of the notes\nline two: the answer is 42\n"


async def user_context(request: Request) -> RequestContext:
    """The test app's context: the user named by ``X-Test-User`` (a stand-in for real auth)."""
    return RequestContext(
        user_id=request.headers.get(USER_HEADER) or "anonymous",
        request_id=getattr(request.state, "request_id", ""),
        base_url=str(request.base_url).rstrip("/"),
        request=request,
    )


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A valid RGB PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"


def new_user(prefix: str = "user") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


@dataclass
class Client:
    """One user talking to a live server."""

    base_url: str
    user: str

    @property
    def headers(self) -> dict[str, str]:
        return {USER_HEADER: self.user}

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if not url.startswith("http"):
            url = self.base_url + url
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return httpx.request(method, url, headers=headers, timeout=30, **kwargs)

    def chatkit(self, body: dict[str, Any]) -> httpx.Response:
        return self.request("POST", "/chatkit", content=json.dumps(body).encode())

    def create(self, name: str, data_or_size: bytes | int, mime_type: str) -> httpx.Response:
        size = data_or_size if isinstance(data_or_size, int) else len(data_or_size)
        return self.chatkit(
            {
                "type": "attachments.create",
                "params": {"name": name, "size": size, "mime_type": mime_type},
            }
        )

    def created(self, name: str, data: bytes, mime_type: str) -> dict[str, Any]:
        response = self.create(name, data, mime_type)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def upload(
        self,
        attachment: dict[str, Any],
        data: bytes,
        *,
        multipart: bool = False,
        method: str | None = None,
    ) -> httpx.Response:
        descriptor = attachment["upload_descriptor"]
        headers = dict(descriptor.get("headers") or {})
        method = method or descriptor["method"]
        if multipart:
            files = {"file": (attachment["name"], data, attachment["mime_type"])}
            return self.request(method, descriptor["url"], files=files, headers=headers)
        headers.setdefault("Content-Type", attachment["mime_type"])
        return self.request(method, descriptor["url"], content=data, headers=headers)

    def uploaded(self, name: str, data: bytes, mime_type: str, **kwargs: Any) -> dict[str, Any]:
        """Create and upload (two-phase); the attachment as our upload route answered it, or
        (a presigned PUT to a bucket answers nothing) as ``attachments.create`` did."""
        created = self.created(name, data, mime_type)
        response = self.upload(created, data, **kwargs)
        assert response.status_code == 200, response.text
        if response.headers.get("content-type") == "application/json":
            return response.json()  # type: ignore[no-any-return]
        return {key: value for key, value in created.items() if key != "upload_descriptor"}

    def direct(self, name: str, data: bytes, mime_type: str | None) -> httpx.Response:
        file: tuple[Any, ...] = (name, data) if mime_type is None else (name, data, mime_type)
        return self.request("POST", "/attachments", files={"file": file})

    def send(
        self, text: str, attachment_ids: list[str], thread_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Send a message with attachments (new thread unless ``thread_id``); the SSE events."""
        message = user_input(text, attachment_ids)
        if thread_id is None:
            body = {"type": "threads.create", "params": {"input": message}}
        else:
            body = {
                "type": "threads.add_user_message",
                "params": {"thread_id": thread_id, "input": message},
            }
        response = self.chatkit(body)
        assert response.status_code == 200, response.text
        return sse_events(response.text)

    def items(self, thread_id: str) -> list[dict[str, Any]]:
        response = self.chatkit(
            {"type": "items.list", "params": {"thread_id": thread_id, "limit": 50, "order": "asc"}}
        )
        assert response.status_code == 200, response.text
        return response.json()["data"]  # type: ignore[no-any-return]

    def content(self, attachment_id: str, **kwargs: Any) -> httpx.Response:
        """The content route, following a redirect to a presigned URL (S3) unless told not to."""
        kwargs.setdefault("follow_redirects", True)
        return self.request("GET", f"/attachments/{attachment_id}/content", **kwargs)


def fetch(url: str, **kwargs: Any) -> httpx.Response:
    """GET without credentials (as an ``<img>`` does), following redirects."""
    return httpx.get(url, timeout=10, follow_redirects=True, **kwargs)


def error_of(response: httpx.Response, status: int) -> dict[str, str]:
    """Assert the status and the one error shape; return the inner ``error`` object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"]
    assert set(body["error"]) == {"code", "message", "request_id"}
    return body["error"]  # type: ignore[no-any-return]


def thread_id_of(events: list[dict[str, Any]]) -> str:
    assert events[0]["type"] == "thread.created", events[0]
    return str(events[0]["thread"]["id"])
