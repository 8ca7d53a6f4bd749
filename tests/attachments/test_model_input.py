"""The model receives attachments: images as data URLs, text files' content, PDFs as files
(Responses) or their text (Chat Completions), other files by name.

A real server in front of the fake OpenAI server (``tests/fakes/openai_server.py``), with
attachments uploaded two-phase and direct, on both storage backends.
"""

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatkit_backend.responder.converter import BackendThreadItemConverter
from tests.attachments.conftest import BACKENDS, backend_settings
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
from tests.routes.live_app import assistant_text, serve
from tests.support.pdf import pdf_with_text

FACT = "The vault code is 4812."
REPORT = pdf_with_text(["Quarterly report", "Revenue grew.", FACT], ["Appendix: nothing else."])


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


MODEL_SETTINGS: dict[str, Any] = {
    "model_api_key": "sk-test",
    "model_first_token_timeout": 5.0,
    "model_idle_timeout": 5.0,
    "title_timeout": 2.0,
    "text_attachment_max_chars": 100,
    "secret_key": SECRET,
}


@pytest.fixture(params=BACKENDS)
def model_client(
    fake: FakeOpenAIServer, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Client]:
    """A Responses model (``openai:``) behind an app on each storage backend."""
    settings, _, _ = backend_settings(
        request.param,
        tmp_path,
        request,
        model="openai:fake-model",
        model_base_url=fake.url,
        **MODEL_SETTINGS,
    )
    with serve(settings, context=user_context) as (base_url, _app):
        yield Client(base_url, new_user("alice"))


@pytest.fixture(params=BACKENDS)
def chat_client(
    fake: FakeOpenAIServer, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Client]:
    """A Chat Completions model (``openai-compatible:``) whose converter knows its API."""
    settings, _, _ = backend_settings(
        request.param,
        tmp_path,
        request,
        model="openai-compatible:fake-model",
        model_base_url=fake.url,
        document_max_chars=60,
        **MODEL_SETTINGS,
    )
    converter = BackendThreadItemConverter(
        text_max_chars=settings.text_attachment_max_chars,
        document_max_chars=settings.document_max_chars,
        api="chat_completions",
    )
    with serve(settings, context=user_context, converter=converter) as (base_url, _app):
        yield Client(base_url, new_user("alice"))


def reads_the_vault_code(body: dict[str, Any]) -> str:
    """The fake model's answer: the vault code if the request carries it (as text, or in a
    PDF given as a file), else that it does not know."""
    seen = str(body)
    for found in re.findall(r"data:application/pdf;base64,([A-Za-z0-9+/=]+)", seen):
        seen += base64.b64decode(found).decode("latin-1")
    match = re.search(r"vault code is (\d+)", seen)
    return f"The vault code is {match[1]}." if match else "I do not know the vault code."


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
        model_client.uploaded("square.png", image, "image/png")["id"],
        model_client.direct("notes.txt", TEXT_BODY.encode(), "text/plain").json()["id"],
        model_client.direct("broken.pdf", b"%PDF-1.4 not really", "application/pdf").json()["id"],
    ]
    model_client.send("What did I attach?", ids)

    parts = last_user_parts(fake)
    assert parts[0] == {"type": "input_text", "text": "What did I attach?"}
    assert parts[1] == {"type": "input_image", "detail": "auto", "image_url": data_url(image)}
    assert parts[2]["type"] == "input_text"
    assert f'<file name="notes.txt">\n{TEXT_BODY}\n</file>' in parts[2]["text"]
    assert parts[3] == {
        "type": "input_text",
        "text": "The user attached the file broken.pdf (application/pdf), 19 bytes, "
        "but it could not be read as a PDF.",
    }


def test_a_pdf_reaches_a_responses_model_as_a_file_and_is_answered_from(
    fake: FakeOpenAIServer, model_client: Client
) -> None:
    fake.enqueue(Reply(answer=reads_the_vault_code))
    attachment = model_client.uploaded("report.pdf", REPORT, "application/pdf")
    events = model_client.send("What is the vault code?", [attachment["id"]])

    parts = last_user_parts(fake)
    assert parts[1] == {
        "type": "input_file",
        "filename": "report.pdf",
        "file_data": "data:application/pdf;base64," + base64.b64encode(REPORT).decode(),
    }
    assert FACT not in str(parts)  # only inside the file
    assert assistant_text(events) == FACT


def test_a_pdf_reaches_a_chat_completions_model_as_its_text(
    fake: FakeOpenAIServer, chat_client: Client
) -> None:
    fake.enqueue(Reply(answer=reads_the_vault_code))
    short = pdf_with_text([FACT])
    attachment = chat_client.uploaded("code.pdf", short, "application/pdf")
    events = chat_client.send("What is the vault code?", [attachment["id"]])

    message = fake.model_requests[-1].json()["messages"][-1]
    assert message["role"] == "user"
    texts = [part["text"] for part in message["content"] if part["type"] == "text"]
    assert texts[1] == (
        "The user attached the file code.pdf (application/pdf). Its text, extracted from the "
        f'PDF:\n<file name="code.pdf">\n{FACT}\n</file>'
    )
    assert "data:application/pdf" not in fake.model_requests[-1].text
    assert assistant_text(events) == FACT


def test_a_long_pdf_is_cut_for_a_chat_completions_model_with_a_note(
    fake: FakeOpenAIServer, chat_client: Client
) -> None:
    attachment = chat_client.uploaded("report.pdf", REPORT, "application/pdf")
    chat_client.send("Summarise", [attachment["id"]])

    message = fake.model_requests[-1].json()["messages"][-1]
    text = message["content"][1]["text"]
    shown = "Quarterly report\nRevenue grew.\nThe vault code is 4812.\n\nAppendix: not"[:60]
    assert f'<file name="report.pdf">\n{shown}\n</file>' in text
    assert text.endswith(
        "[The text was cut at 60 characters: the rest of the document is not shown.]"
    )


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
