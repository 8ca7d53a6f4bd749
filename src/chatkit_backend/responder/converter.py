"""``BackendThreadItemConverter``: thread items to model input, attachments included.

The SDK's ``ThreadItemConverter`` already handles user text, quoted text, client tool
calls, widgets, tasks and workflows. This subclass sends assistant messages as plain
text (the SDK's ``output_text`` parts break Chat Completions servers) and adds what the
SDK leaves to integrations: attachments (images as base64 data URLs, text files as text up
to a bound, PDFs as files for Responses models and as their extracted text for Chat
Completions models, anything else named with a note that it was not read), @-mention
tags, and hidden context whose content is not a string.

The converter's hooks receive no request context, so the responder publishes it in
``current_request_context`` while it converts; the attachment reader needs it to check
that the file belongs to the user.
"""

import asyncio
import base64
import io
import json
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Literal

from agents.items import TResponseInputItem
from chatkit.agents import ThreadItemConverter
from chatkit.types import (
    AssistantMessageItem,
    Attachment,
    HiddenContextItem,
    ImageAttachment,
    UserMessageItem,
    UserMessageTagContent,
    UserMessageTextContent,
)
from openai.types.responses import (
    EasyInputMessageParam,
    ResponseInputContentParam,
    ResponseInputFileParam,
    ResponseInputImageParam,
    ResponseInputTextParam,
)
from openai.types.responses.response_input_item_param import Message

from chatkit_backend.context import RequestContext
from chatkit_backend.responder.context_items import HIDDEN_CONTEXT_PREFIX

logger = logging.getLogger("chatkit_backend.responder")

AttachmentReader = Callable[[Attachment, RequestContext], Awaitable[bytes | None]]
"""Returns an attachment's bytes for the requesting user, or None when they are unavailable."""

current_request_context: ContextVar[RequestContext | None] = ContextVar(
    "chatkit_backend_request_context", default=None
)
current_model_api: ContextVar["ModelApi | None"] = ContextVar(
    "chatkit_backend_model_api", default=None
)
"""The API of the model this turn runs on, when the responder knows it per turn (several
models); it wins over the converter's ``api``."""

TEXT_MIME_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/yaml",
        "application/x-yaml",
        "application/toml",
        "application/csv",
        "application/javascript",
        "application/x-sh",
        "application/sql",
        "application/x-ndjson",
    }
)
IMAGE_MIME_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
PDF_MIME_TYPE = "application/pdf"

ModelApi = Literal["responses", "chat_completions"]
"""Which OpenAI API the model speaks: the Responses API takes PDF files (``input_file``);
Chat Completions servers (Ollama, vLLM, ...) get the PDF's extracted text."""


def is_text_mime_type(mime_type: str) -> bool:
    base = mime_type.split(";", 1)[0].strip().lower()
    return base.startswith("text/") or base in TEXT_MIME_TYPES or base.endswith(("+json", "+xml"))


def decode_text(data: bytes) -> str | None:
    """The bytes as text, or None when they look binary."""
    if b"\x00" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


class BackendThreadItemConverter(ThreadItemConverter):
    """The default converter: the SDK's, plus attachments, tags and structured hidden context."""

    def __init__(
        self,
        attachment_reader: AttachmentReader | None = None,
        *,
        text_max_chars: int = 20_000,
        document_max_chars: int = 50_000,
        api: ModelApi | None = None,
    ) -> None:
        """``text_max_chars``: characters of a text file given to the model;
        ``document_max_chars``: characters of a PDF's extracted text (Chat Completions);
        ``api``: the model's API (``None``: not known yet, treated as ``"responses"``; the
        responder sets it from ``CHATKIT_MODEL``, or per turn in ``current_model_api``)."""
        self.attachment_reader = attachment_reader
        self.text_max_chars = text_max_chars
        self.document_max_chars = document_max_chars
        self.api = api

    async def attachment_to_message_content(
        self, attachment: Attachment
    ) -> ResponseInputContentParam:
        data = await self._read(attachment)
        label = f"{attachment.name} ({attachment.mime_type})"
        if data is None:
            return _text(f"The user attached the file {label}, but it is no longer available.")
        base_type = attachment.mime_type.split(";", 1)[0].strip().lower()
        if isinstance(attachment, ImageAttachment) or base_type in IMAGE_MIME_TYPES:
            if base_type in IMAGE_MIME_TYPES:
                encoded = base64.b64encode(data).decode("ascii")
                return ResponseInputImageParam(
                    type="input_image",
                    detail="auto",
                    image_url=f"data:{base_type};base64,{encoded}",
                )
        if is_text_mime_type(base_type) and self.text_max_chars > 0:
            text = decode_text(data)
            if text is not None:
                return _text(self._text_file(attachment, text))
        if base_type == PDF_MIME_TYPE:
            return await self._pdf(attachment, data)
        return _text(
            f"The user attached the file {label}, {len(data)} bytes. Its contents were not read: "
            "this server gives the model only images, PDFs and text files."
        )

    async def _pdf(self, attachment: Attachment, data: bytes) -> ResponseInputContentParam:
        """The PDF itself for a Responses model; its text (up to ``document_max_chars``) else.

        A file pypdf cannot open is named with a note instead: sent as a file, it would
        make the model server refuse the whole request.
        """
        label = f"{attachment.name} ({attachment.mime_type})"
        to_text = (current_model_api.get() or self.api) == "chat_completions"
        try:
            if to_text:
                text, complete = await asyncio.to_thread(
                    extract_pdf_text, data, self.document_max_chars
                )
            else:
                await asyncio.to_thread(count_pdf_pages, data)
        except Exception:  # a damaged or encrypted PDF must not end the reply
            logger.warning("could not read the PDF attachment %s", attachment.id, exc_info=True)
            return _text(
                f"The user attached the file {label}, {len(data)} bytes, but it could not be "
                "read as a PDF."
            )
        if not to_text:
            encoded = base64.b64encode(data).decode("ascii")
            return ResponseInputFileParam(
                type="input_file",
                filename=attachment.name,
                file_data=f"data:{PDF_MIME_TYPE};base64,{encoded}",
            )
        if not text.strip():
            return _text(
                f"The user attached the file {label}, {len(data)} bytes, but no text could be "
                "extracted from it (it may hold only scanned images)."
            )
        note = ""
        if not complete:
            note = (
                f"\n[The text was cut at {len(text)} characters: the rest of the document "
                "is not shown.]"
            )
        return _text(
            f"The user attached the file {label}. Its text, extracted from the PDF:\n"
            f"<file name={json.dumps(attachment.name)}>\n{text}\n</file>{note}"
        )

    def _text_file(self, attachment: Attachment, text: str) -> str:
        shown = text[: self.text_max_chars]
        note = ""
        if len(text) > len(shown):
            note = f"\n[Only the first {len(shown)} of {len(text)} characters are shown.]"
        return (
            f"The user attached the file {attachment.name} ({attachment.mime_type}):\n"
            f"<file name={json.dumps(attachment.name)}>\n{shown}\n</file>{note}"
        )

    async def _read(self, attachment: Attachment) -> bytes | None:
        context = current_request_context.get()
        if self.attachment_reader is None or context is None:
            return None
        try:
            return await self.attachment_reader(attachment, context)
        except Exception:  # a missing or unreadable file must not end the reply
            logger.warning(
                "could not read attachment %s",
                attachment.id,
                exc_info=True,
                extra={"request_id": context.request_id},
            )
            return None

    async def assistant_message_to_input(
        self, item: AssistantMessageItem
    ) -> TResponseInputItem | list[TResponseInputItem] | None:
        # The SDK sends ``output_text`` parts, which Chat Completions servers cannot take;
        # plain text works with both APIs.
        text = "".join(part.text for part in item.content)
        if not text.strip():
            return None
        return EasyInputMessageParam(type="message", role="assistant", content=text)

    async def user_message_to_input(
        self, item: UserMessageItem, is_last_message: bool = True
    ) -> TResponseInputItem | list[TResponseInputItem] | None:
        """The SDK's conversion, except that @-mention tags are told apart by what they
        point at (``id`` and ``data``), not by their label: two people called "Alex"
        (``data.id`` ``user_1`` and ``user_2``) both reach the model. The SDK keeps the
        first tag of each label and drops the other one's data."""
        text_parts: list[str] = []
        tags: dict[str, UserMessageTagContent] = {}
        for part in item.content:
            if isinstance(part, UserMessageTextContent):
                text_parts.append(part.text)
            else:
                text_parts.append(f"@{part.text}")
                tags.setdefault(_tag_key(part), part)
        user_text = Message(
            role="user",
            type="message",
            content=[
                _text("".join(text_parts)),
                *[await self.attachment_to_message_content(a) for a in item.attachments],
            ],
        )
        context: list[TResponseInputItem] = []
        if item.quoted_text and is_last_message:
            context.append(
                Message(
                    role="user",
                    type="message",
                    content=[
                        _text(f"The user is referring to this in particular: \n{item.quoted_text}")
                    ],
                )
            )
        if tags:
            tag_content = [await self.tag_to_message_content(tag) for tag in tags.values()]
            context.append(
                Message(
                    role="user",
                    type="message",
                    content=[_text(TAGS_PREAMBLE), *tag_content],
                )
            )
        return [user_text, *context]

    async def tag_to_message_content(self, tag: UserMessageTagContent) -> ResponseInputContentParam:
        data = json.dumps(tag.data, default=str, ensure_ascii=False)
        return _text(f"@{tag.text} refers to: {data}")

    async def hidden_context_to_input(
        self, item: HiddenContextItem
    ) -> TResponseInputItem | list[TResponseInputItem] | None:
        content = item.content
        if not isinstance(content, str):
            content = json.dumps(content, default=str, ensure_ascii=False)
        text = f"{HIDDEN_CONTEXT_PREFIX}\n<HiddenContext>\n{content}\n</HiddenContext>"
        return Message(type="message", role="user", content=[_text(text)])


TAGS_PREAMBLE = (
    "# User-provided context for @-mentions\n"
    "- When referencing resolved entities, use their canonical names **without** '@'.\n"
    "- The '@' form appears only in user text and should not be echoed."
)
"""The SDK's heading of the @-mention context (``ThreadItemConverter.user_message_to_input``)."""


def _tag_key(tag: UserMessageTagContent) -> str:
    """What a tag points at: its id and its data (the same entity mentioned twice is one)."""
    return json.dumps([tag.id, tag.data], sort_keys=True, default=str)


def count_pdf_pages(data: bytes) -> int:
    """The number of pages of a PDF (pypdf); raises pypdf's errors for a file it cannot read."""
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(data)).pages)


def extract_pdf_text(data: bytes, max_chars: int) -> tuple[str, bool]:
    """A PDF's text, page by page (pypdf), up to ``max_chars``; and whether it is all there.

    Pages past the limit are not parsed. Raises pypdf's errors for a file it cannot read.
    """
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    pages: list[str] = []
    length = 0
    for page in reader.pages:
        if length > max_chars:
            break
        text = page.extract_text() or ""
        pages.append(text)
        length += len(text) + 1
    text = "\n".join(pages).strip()
    complete = len(pages) == len(reader.pages) and len(text) <= max_chars
    return text[:max_chars], complete


def _text(text: str) -> ResponseInputTextParam:
    return ResponseInputTextParam(type="input_text", text=text)
