"""Attachments reach the model: images as data URLs, text files as text, other files by name."""

import base64
import json
import struct
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from chatkit.types import (
    FileAttachment,
    ImageAttachment,
    InferenceOptions,
    UserMessageItem,
    UserMessageTextContent,
)
from pydantic import AnyUrl

from chatkit_backend.context import RequestContext
from chatkit_backend.responder.converter import BackendThreadItemConverter, current_request_context
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.responder.conftest import LiveApp, live_app, model_settings, user_input


def tiny_png() -> bytes:
    """A valid 1x1 red PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def upload(app: LiveApp, name: str, mime_type: str, data: bytes) -> str:
    """Two-phase upload through the real endpoints; returns the attachment id."""
    created = app.post(
        {
            "type": "attachments.create",
            "params": {"name": name, "size": len(data), "mime_type": mime_type},
        }
    )
    assert created.status_code == 200, created.text
    attachment = json.loads(created.content)
    descriptor = attachment["upload_descriptor"]
    uploaded = httpx.request(
        descriptor["method"], descriptor["url"], content=data, headers={"Content-Type": mime_type}
    )
    assert uploaded.status_code < 300, uploaded.text
    return str(attachment["id"])


def test_image_text_and_other_files_reach_the_model(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    png = tiny_png()
    notes = "Meeting notes:\n- ship on Friday\n"
    fake.enqueue(Reply(text="I see a red pixel and your notes."))
    settings = model_settings("openai", fake, attachments=True, data_dir=tmp_path)
    with live_app(settings) as app:
        ids = [
            upload(app, "pixel.png", "image/png", png),
            upload(app, "notes.txt", "text/plain", notes.encode()),
            upload(app, "report.pdf", "application/pdf", b"%PDF-1.4 fake"),
        ]
        stream = app.stream(
            {
                "type": "threads.create",
                "params": {"input": user_input("What is in these?", attachments=ids)},
            }
        )

    assert stream.assistant_text == "I see a red pixel and your notes."
    user_message = fake.model_requests[0].json()["input"][-1]
    assert user_message["role"] == "user"
    parts = user_message["content"]
    assert parts[0] == {"type": "input_text", "text": "What is in these?"}
    assert parts[1] == {
        "type": "input_image",
        "detail": "auto",
        "image_url": "data:image/png;base64," + base64.b64encode(png).decode(),
    }
    assert parts[2]["type"] == "input_text"
    assert (
        parts[2]["text"]
        == f'The user attached the file notes.txt (text/plain):\n<file name="notes.txt">\n{notes}\n</file>'
    )
    assert parts[3] == {
        "type": "input_text",
        "text": "The user attached the file report.pdf (application/pdf), 13 bytes, "
        "but it could not be read as a PDF.",
    }


def test_image_reaches_a_chat_completions_server_as_an_image_part(
    fake: FakeOpenAIServer, tmp_path: Path
) -> None:
    png = tiny_png()
    fake.enqueue(Reply(text="A pixel."))
    settings = model_settings("openai-compatible", fake, attachments=True, data_dir=tmp_path)
    with live_app(settings) as app:
        image_id = upload(app, "pixel.png", "image/png", png)
        app.stream(
            {
                "type": "threads.create",
                "params": {"input": user_input("Describe", attachments=[image_id])},
            }
        )

    user_message = fake.model_requests[0].json()["messages"][-1]
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    assert {"type": "image_url", "image_url": {"url": data_url, "detail": "auto"}} in user_message[
        "content"
    ]


# -- the converter on its own --------------------------------------------------------------
def message_with(*attachments: Any) -> UserMessageItem:
    return UserMessageItem(
        id="msg_1",
        thread_id="thr_1",
        created_at=datetime.now(),
        content=[UserMessageTextContent(text="see attached")],
        attachments=list(attachments),
        inference_options=InferenceOptions(),
    )


def file(name: str, mime_type: str) -> FileAttachment:
    return FileAttachment(id=f"atc_{name}", name=name, mime_type=mime_type)


async def convert(converter: BackendThreadItemConverter, item: UserMessageItem) -> list[Any]:
    token = current_request_context.set(RequestContext(user_id="u1", request_id="req-1"))
    try:
        converted = await converter.to_agent_input([item])
    finally:
        current_request_context.reset(token)
    return list(converted[0]["content"])  # type: ignore[typeddict-item]


def reader_of(files: dict[str, bytes]) -> Any:
    async def read(attachment: Any, context: RequestContext) -> bytes | None:
        assert context.user_id == "u1"
        return files.get(attachment.id)

    return read


async def test_long_text_file_is_cut_at_the_limit_with_a_note() -> None:
    converter = BackendThreadItemConverter(reader_of({"atc_big.md": b"x" * 50}), text_max_chars=20)

    parts = await convert(converter, message_with(file("big.md", "text/markdown")))

    assert parts[1]["text"] == (
        'The user attached the file big.md (text/markdown):\n<file name="big.md">\n'
        + "x" * 20
        + "\n</file>\n[Only the first 20 of 50 characters are shown.]"
    )


async def test_binary_content_under_a_text_type_is_not_read() -> None:
    converter = BackendThreadItemConverter(reader_of({"atc_blob.json": b"\x00\x01\x02"}))

    parts = await convert(converter, message_with(file("blob.json", "application/json")))

    assert parts[1]["text"].startswith(
        "The user attached the file blob.json (application/json), 3 bytes. Its contents were not read"
    )


@pytest.mark.parametrize("reader", [None, reader_of({})], ids=["no-reader", "missing-file"])
async def test_unavailable_file_is_named_as_unavailable(reader: Any) -> None:
    converter = BackendThreadItemConverter(reader)
    image = ImageAttachment(
        id="atc_gone",
        name="gone.png",
        mime_type="image/png",
        preview_url=AnyUrl("http://127.0.0.1/p"),
    )

    parts = await convert(converter, message_with(image))

    assert parts[1] == {
        "type": "input_text",
        "text": "The user attached the file gone.png (image/png), but it is no longer available.",
    }


async def test_a_failing_reader_does_not_end_the_reply() -> None:
    async def broken(attachment: Any, context: RequestContext) -> bytes | None:
        raise OSError("disk on fire")

    converter = BackendThreadItemConverter(broken)

    parts = await convert(converter, message_with(file("a.txt", "text/plain")))

    assert (
        parts[1]["text"]
        == "The user attached the file a.txt (text/plain), but it is no longer available."
    )
