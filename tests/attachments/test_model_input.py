"""The model receives attachments: images as data URLs, text files' content, other files by name.

A real server in front of the fake OpenAI server (``tests/fakes/openai_server.py``), with
attachments uploaded through both strategies.
"""

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.attachments.helpers import (
    SECRET,
    TEXT_BODY,
    Client,
    new_user,
    png_bytes,
    thread_id_of,
    user_context,
)
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.routes.live_app import make_settings, serve


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def model_client(fake: FakeOpenAIServer, tmp_path: Path) -> Iterator[Client]:
    settings = make_settings(
        tmp_path,
        model="openai:fake-model",
        model_base_url=fake.url,
        model_api_key="sk-test",
        model_first_token_timeout=5.0,
        model_idle_timeout=5.0,
        title_timeout=2.0,
        text_attachment_max_chars=100,
        secret_key=SECRET,
    )
    with serve(settings, context=user_context) as (base_url, _app):
        yield Client(base_url, new_user("alice"))


def last_user_parts(fake: FakeOpenAIServer) -> list[dict[str, Any]]:
    message = fake.model_requests[-1].json()["input"][-1]
    assert message["role"] == "user"
    return message["content"]  # type: ignore[no-any-return]


def data_url(image: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(image).decode()


def test_the_model_receives_the_image_and_the_text_files_content(
    fake: FakeOpenAIServer, model_client: Client
) -> None:
    image = png_bytes(4, 4)
    fake.enqueue(Reply(text="A red square and your notes."))
    ids = [
        model_client.uploaded("square.png", image, "image/png", multipart=True)["id"],
        model_client.direct("notes.txt", TEXT_BODY.encode(), "text/plain").json()["id"],
        model_client.direct("report.pdf", b"%PDF-1.4 not really", "application/pdf").json()["id"],
    ]
    model_client.send("What did I attach?", ids)

    parts = last_user_parts(fake)
    assert parts[0] == {"type": "input_text", "text": "What did I attach?"}
    assert parts[1] == {"type": "input_image", "detail": "auto", "image_url": data_url(image)}
    assert parts[2]["type"] == "input_text"
    assert f'<file name="notes.txt">\n{TEXT_BODY}\n</file>' in parts[2]["text"]
    assert parts[3]["type"] == "input_text"
    assert parts[3]["text"].startswith(
        "The user attached the file report.pdf (application/pdf), 19 bytes."
    )
    assert "not read" in parts[3]["text"]


def test_a_long_text_file_reaches_the_model_up_to_the_cap(
    fake: FakeOpenAIServer, model_client: Client
) -> None:
    text = "".join(f"{n:03d} " for n in range(100))  # 400 characters; the cap is 100
    attachment = model_client.uploaded("long.txt", text.encode(), "text/plain")
    model_client.send("read it", [attachment["id"]])

    part = last_user_parts(fake)[1]["text"]
    assert text[:100] + "\n</file>" in part
    assert text[:101] not in part
    assert part.endswith("[Only the first 100 of 400 characters are shown.]")


def test_earlier_attachments_stay_in_the_models_history(
    fake: FakeOpenAIServer, model_client: Client
) -> None:
    image = png_bytes(2, 3)
    attachment = model_client.uploaded("first.png", image, "image/png")
    thread_id = thread_id_of(model_client.send("look", [attachment["id"]]))
    model_client.send("and now?", [], thread_id=thread_id)

    history = fake.model_requests[-1].json()["input"]
    images = [
        part["image_url"]
        for message in history
        if message.get("role") == "user"
        for part in message["content"]
        if part.get("type") == "input_image"
    ]
    assert images == [data_url(image)]


def test_a_deleted_attachment_is_named_as_unavailable(
    fake: FakeOpenAIServer, model_client: Client
) -> None:
    attachment = model_client.uploaded("gone.txt", b"soon gone", "text/plain")
    thread_id = thread_id_of(model_client.send("keep this", [attachment["id"]]))
    deleted = model_client.request("DELETE", f"/attachments/{attachment['id']}")
    assert deleted.status_code == 204
    model_client.send("what was it?", [], thread_id=thread_id)

    first_user = next(m for m in fake.model_requests[-1].json()["input"] if m.get("role") == "user")
    assert first_user["content"][1] == {
        "type": "input_text",
        "text": "The user attached the file gone.txt (text/plain), but it is no longer available.",
    }
