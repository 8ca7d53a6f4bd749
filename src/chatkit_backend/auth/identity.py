"""What an auth mode proves about a request: an ``Identity``, or an ``UnauthorizedError``."""

from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request

REALM = "chatkit"
MAX_ID_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Identity:
    """The authenticated caller: a user, optionally a tenant, and the claims that proved it."""

    user_id: str
    tenant_id: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)


class Authenticator(Protocol):
    """One auth mode. ``authenticate`` raises ``UnauthorizedError`` (401) when it cannot."""

    mode: str

    async def authenticate(self, request: Request) -> Identity: ...


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a user or tenant id (empty, too long, control characters), or None."""
    if not value or not value.strip():
        return "is empty"
    if len(value) > MAX_ID_LENGTH:
        return f"is longer than {MAX_ID_LENGTH} characters"
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        return "holds control characters"
    return None


def challenge(scheme: str, error: str | None = None, description: str | None = None) -> str:
    """A ``WWW-Authenticate`` value, RFC 6750 style: ``Bearer realm="chatkit", error="invalid_token"``."""
    parts = [f'realm="{REALM}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append('error_description="' + description.replace('"', "'").replace("\\", "/") + '"')
    return f"{scheme} " + ", ".join(parts)
