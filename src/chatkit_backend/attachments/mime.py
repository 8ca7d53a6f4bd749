"""MIME types: normalising, matching the allowed list, and checking image bytes."""

from collections.abc import Iterable

# Image types we can verify from their first bytes; only these become image attachments.
SNIFFABLE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
SNIFF_BYTES = 16
OCTET_STREAM = "application/octet-stream"


def normalize_mime(value: str | None) -> str:
    """``Text/Plain; charset=utf-8`` -> ``text/plain``; empty when absent or malformed."""
    base = (value or "").split(";", 1)[0].strip().lower()
    kind, slash, subtype = base.partition("/")
    if not slash or not kind or not subtype or any(ch.isspace() for ch in base):
        return ""
    return base


def mime_allowed(mime_type: str, patterns: Iterable[str]) -> bool:
    """Whether ``mime_type`` matches one of ``patterns`` (exact, ``type/*`` or ``*/*``)."""
    kind = mime_type.split("/", 1)[0]
    for pattern in patterns:
        pattern = pattern.strip().lower()
        if pattern in ("*/*", "*", mime_type) or pattern == f"{kind}/*":
            return True
    return False


def sniff_image(head: bytes) -> str | None:
    """The image type that ``head`` (a file's first bytes) starts with, if any we know."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def is_image(mime_type: str) -> bool:
    """Whether the type is an image we can verify, preview and give the model."""
    return mime_type in SNIFFABLE_IMAGE_TYPES
