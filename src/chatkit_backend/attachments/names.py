"""File names from clients: sanitised for display and for ``Content-Disposition``.

Names are only ever shown; files are stored by attachment id, so a name cannot reach
the file system.
"""

import unicodedata
from urllib.parse import quote

MAX_NAME_CHARS = 255
FALLBACK_NAME = "file"


def sanitize_filename(name: str | None) -> str:
    """The last path segment of ``name``, without control characters, at most 255 characters."""
    text = unicodedata.normalize("NFC", name or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(
        " " if unicodedata.category(ch) in ("Zl", "Zp") or ch in "\t\n\r" else ch
        for ch in text
        if unicodedata.category(ch)[0] != "C" or ch in "\t\n\r"
    )
    text = " ".join(text.split()).strip(" .")
    if not text:
        return FALLBACK_NAME
    if len(text) > MAX_NAME_CHARS:
        stem, dot, ext = text.rpartition(".")
        if dot and 0 < len(ext) <= 16 and stem:
            text = stem[: MAX_NAME_CHARS - len(ext) - 1].rstrip() + "." + ext
        else:
            text = text[:MAX_NAME_CHARS]
    return text


def ascii_fallback(name: str) -> str:
    """An ASCII rendering of ``name`` safe inside a quoted header parameter."""
    decomposed = unicodedata.normalize("NFKD", name)
    chars = [
        ch if (ch.isascii() and ch.isprintable() and ch not in '"\\;%') else "_"
        for ch in decomposed
        if not unicodedata.combining(ch)
    ]
    return "".join(chars).strip() or FALLBACK_NAME


def content_disposition(name: str, *, inline: bool) -> str:
    """``inline`` or ``attachment`` with an ASCII ``filename`` and the exact ``filename*``."""
    kind = "inline" if inline else "attachment"
    safe = sanitize_filename(name)
    return f"{kind}; filename=\"{ascii_fallback(safe)}\"; filename*=UTF-8''{quote(safe, safe='')}"
