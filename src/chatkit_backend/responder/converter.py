"""``BackendThreadItemConverter``: thread items to model input, attachments included.

The SDK's ``ThreadItemConverter`` already handles user text, quoted text, client tool
calls, widgets, tasks and workflows. This subclass sends assistant messages as plain
text (the SDK's ``output_text`` parts break Chat Completions servers) and adds what the
SDK leaves to integrations: attachments (images as base64 data URLs, text files as text up
to a bound, anything else named with a note that it was not read), @-mention tags, and
hidden context whose content is not a string.

The converter's hooks receive no request context, so the responder publishes it in
``current_request_context`` while it converts; the attachment reader needs it to check
that the file belongs to the user.
"""

import base64
import json
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

from agents.items import TResponseInputItem
from chatkit.agents import ThreadItemConverter
from chatkit.types import (
    AssistantMessageItem,
    Attachment,
    HiddenContextItem,
    ImageAttachment,
    UserMessageTagContent,
)
from openai.types.responses import (
    EasyInputMessageParam,
    ResponseInputContentParam,
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
    ) -> None:
        self.attachment_reader = attachment_reader
        self.text_max_chars = text_max_chars

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
        return _text(
            f"The user attached the file {label}, {len(data)} bytes. Its contents were not read: "
            "this server gives the model only images and text files."
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


def _text(text: str) -> ResponseInputTextParam:
    return ResponseInputTextParam(type="input_text", text=text)
