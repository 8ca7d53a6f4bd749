"""Redaction of secrets in logged headers."""

from collections.abc import Iterable

SECRET_HEADERS = frozenset(
    {"authorization", "cookie", "set-cookie", "x-api-key", "proxy-authorization", "x-auth-token"}
)
REDACTED = "[redacted]"


def redacted_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers as a dict, with credentials replaced by ``[redacted]``."""
    return {
        name: (
            REDACTED
            if name.lower() in SECRET_HEADERS or "token" in name.lower() or "secret" in name.lower()
            else value
        )
        for name, value in headers
    }
