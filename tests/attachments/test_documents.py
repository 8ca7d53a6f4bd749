"""PDFs for the model, converter alone: the file for the Responses API, its text (capped,
with a note when cut) for Chat Completions, a note for a PDF with no text or a broken one."""

import base64
from datetime import datetime
from typing import Any

import pytest
from chatkit.types import (
    FileAttachment,
    InferenceOptions,
    UserMessageItem,
    UserMessageTextContent,
)

from chatkit_backend.context import RequestContext
from chatkit_backend.responder.converter import (
    BackendThreadItemConverter,
    ModelApi,
    current_model_api,
    current_request_context,
)
from tests.support.pdf import pdf_with_text

FACT = "The vault code is 4812."


def pdf(name: str = "report.pdf") -> FileAttachment:
    return FileAttachment(id=f"atc_{name}", name=name, mime_type="application/pdf")


async def convert(converter: BackendThreadItemConverter, data: bytes) -> dict[str, Any]:
    async def read(attachment: Any, context: RequestContext) -> bytes | None:
        return data

    converter.attachment_reader = read
    item = UserMessageItem(
        id="msg_1",
        thread_id="thr_1",
        created_at=datetime.now(),
        content=[UserMessageTextContent(text="see attached")],
        attachments=[pdf()],
        inference_options=InferenceOptions(),
    )
    token = current_request_context.set(RequestContext(user_id="u1"))
    try:
        converted = await converter.to_agent_input([item])
    finally:
        current_request_context.reset(token)
    message: Any = converted[0]
    return dict(message["content"][1])


@pytest.mark.parametrize("api", [None, "responses"])
async def test_a_responses_model_gets_the_pdf_itself(api: ModelApi | None) -> None:
    data = pdf_with_text([FACT])
    part = await convert(BackendThreadItemConverter(api=api), data)
    assert part == {
        "type": "input_file",
        "filename": "report.pdf",
        "file_data": "data:application/pdf;base64," + base64.b64encode(data).decode(),
    }


async def test_a_chat_completions_model_gets_the_text() -> None:
    part = await convert(
        BackendThreadItemConverter(api="chat_completions"), pdf_with_text([FACT], ["Page 2."])
    )
    assert part["text"] == (
        "The user attached the file report.pdf (application/pdf). Its text, extracted from "
        f'the PDF:\n<file name="report.pdf">\n{FACT}\n\nPage 2.\n</file>'
    )


async def test_the_text_is_cut_at_the_limit_with_a_note() -> None:
    converter = BackendThreadItemConverter(api="chat_completions", document_max_chars=10)
    part = await convert(converter, pdf_with_text([FACT]))
    assert part["text"].endswith(
        '<file name="report.pdf">\nThe vault \n</file>\n'
        "[The text was cut at 10 characters: the rest of the document is not shown.]"
    )


async def test_the_turns_model_api_wins_over_the_converters() -> None:
    token = current_model_api.set("chat_completions")
    try:
        part = await convert(BackendThreadItemConverter(api="responses"), pdf_with_text([FACT]))
    finally:
        current_model_api.reset(token)
    assert part["type"] == "input_text" and FACT in part["text"]


async def test_a_pdf_without_text_is_named_with_a_note() -> None:
    data = pdf_with_text([])
    part = await convert(BackendThreadItemConverter(api="chat_completions"), data)
    assert part["text"] == (
        f"The user attached the file report.pdf (application/pdf), {len(data)} bytes, but no "
        "text could be extracted from it (it may hold only scanned images)."
    )


@pytest.mark.parametrize("api", ["responses", "chat_completions"])
async def test_a_broken_pdf_is_named_not_sent(api: ModelApi) -> None:
    part = await convert(BackendThreadItemConverter(api=api), b"%PDF-1.7 cut short")
    assert part == {
        "type": "input_text",
        "text": "The user attached the file report.pdf (application/pdf), 18 bytes, but it "
        "could not be read as a PDF.",
    }
