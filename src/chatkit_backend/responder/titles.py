"""Thread titles: a short model-written title after the first user message.

The call is bounded by ``CHATKIT_TITLE_TIMEOUT``; the offline model, a failure or a
timeout fall back to the message's first words, so a titled thread never waits long.
"""

import asyncio
import logging
import re

from agents import ItemHelpers, Model, ModelSettings, ModelTracing
from chatkit.types import UserMessageItem, UserMessageTagContent, UserMessageTextContent

from chatkit_backend.responder.failures import describe_error

logger = logging.getLogger("chatkit_backend.responder")

TITLE_INSTRUCTIONS = (
    "You write titles for chat conversations. Reply with a title of at most six words for a "
    "conversation that starts with the user's message. Use the language of the message. "
    "Reply with the title only: no quotes, no trailing punctuation."
)
TITLE_WORDS = 6
TITLE_MAX_CHARS = 60
TITLE_INPUT_CHARS = 2000
UNTITLED = "New conversation"


def message_text(item: UserMessageItem) -> str:
    """The text the user typed (tags as ``@name``)."""
    parts = []
    for part in item.content:
        if isinstance(part, UserMessageTextContent):
            parts.append(part.text)
        elif isinstance(part, UserMessageTagContent):
            parts.append(f"@{part.text}")
    return "".join(parts)


def first_words(text: str, words: int = TITLE_WORDS) -> str:
    """The first few words of ``text``, as a title."""
    chosen = " ".join(text.split()[:words])
    if len(chosen) > TITLE_MAX_CHARS:
        chosen = chosen[: TITLE_MAX_CHARS - 1].rstrip() + "…"
    return chosen


def clean_title(raw: str) -> str:
    """One line, no quotes or trailing dot, bounded in length."""
    line = next((line for line in raw.strip().splitlines() if line.strip()), "")
    line = re.sub(r"^(title\s*:\s*)", "", line.strip(), flags=re.IGNORECASE)
    line = line.strip().strip("\"'“”«»*#` ").rstrip(".!").strip()
    return first_words(line, words=12)


def fallback_title(item: UserMessageItem) -> str:
    """The title when no model writes one: the first words, else the first file's name."""
    title = first_words(message_text(item))
    if not title and item.attachments:
        title = first_words(item.attachments[0].name)
    return title or UNTITLED


class TitleWriter:
    """Writes titles with ``model`` (None: first words only), within ``timeout`` seconds.

    The title is one ``Model.get_response`` call (the system prompt and the message), not
    a ``Runner`` run: the same request to the model server, without a run's set-up (a few
    milliseconds of CPU per new thread).
    """

    def __init__(self, model: Model | None, timeout: float) -> None:
        self.model = model
        self.timeout = timeout

    async def title_for(self, item: UserMessageItem, request_id: str = "") -> str:
        fallback = fallback_title(item)
        text = message_text(item).strip()
        if self.model is None or not text:
            return fallback
        try:
            async with asyncio.timeout(self.timeout):
                response = await self.model.get_response(
                    TITLE_INSTRUCTIONS,
                    text[:TITLE_INPUT_CHARS],
                    ModelSettings(),
                    [],
                    None,
                    [],
                    ModelTracing.DISABLED,
                    previous_response_id=None,
                    conversation_id=None,
                    prompt=None,
                )
        except Exception as exc:
            logger.info(
                "title generation failed, using the first words: %s",
                describe_error(exc),
                extra={"request_id": request_id},
            )
            return fallback
        written = ""
        for output in response.output:
            if getattr(output, "type", None) == "message":
                written = ItemHelpers.extract_last_text(output) or written
        return clean_title(written) or fallback
