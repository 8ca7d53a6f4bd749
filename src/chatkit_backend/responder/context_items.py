"""Context the model gets beside the conversation: the request's locale.

The system prompt stays static (never built from request values); per-request context
goes in as a hidden user-role message, the way the SDK's ``ThreadItemConverter`` sends
hidden context, so any OpenAI-compatible server accepts it.
"""

import re

from agents.items import TResponseInputItem
from openai.types.responses import ResponseInputTextParam
from openai.types.responses.response_input_item_param import Message

HIDDEN_CONTEXT_PREFIX = "Hidden context for the agent (not shown to the user):"
# Texts the SDK's converter (and ours) use for context messages rather than user words.
CONTEXT_PREFIXES = (
    HIDDEN_CONTEXT_PREFIX,
    "The user is referring to this in particular:",
    "# User-provided context for @-mentions",
)
_LANGUAGE_RANGE = re.compile(r"^(\*|[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*)(;q=[01](\.\d{0,3})?)?$")
MAX_LANGUAGES = 6


def clean_locale(value: str | None) -> str | None:
    """Keep only well-formed language ranges of an Accept-Language value (it is client input)."""
    if not value:
        return None
    ranges = []
    for part in value.split(",")[:20]:
        candidate = part.strip().replace(" ", "")
        if _LANGUAGE_RANGE.match(candidate):
            ranges.append(candidate)
        if len(ranges) == MAX_LANGUAGES:
            break
    return ", ".join(ranges) or None


def primary_language(value: str | None) -> str | None:
    """The first language's two- or three-letter code (``de`` for ``de-DE,en;q=0.8``)."""
    cleaned = clean_locale(value)
    if not cleaned:
        return None
    first = cleaned.split(",")[0].split(";")[0].split("-")[0].lower()
    return first if first.isalpha() and 2 <= len(first) <= 3 else None


def locale_context(locale: str | None) -> TResponseInputItem | None:
    """A hidden message telling the model the user's preferred languages, or None."""
    cleaned = clean_locale(locale)
    if cleaned is None:
        return None
    text = (
        f"{HIDDEN_CONTEXT_PREFIX}\n<HiddenContext>\n"
        f"The user's browser prefers these languages (Accept-Language): {cleaned}. "
        "Answer in the language the user writes in; when that is unclear, use the first of these."
        "\n</HiddenContext>"
    )
    return Message(
        role="user", type="message", content=[ResponseInputTextParam(type="input_text", text=text)]
    )


def is_context_text(text: str) -> bool:
    """True for the text of a context message rather than something the user typed."""
    return text.lstrip().startswith(CONTEXT_PREFIXES)
