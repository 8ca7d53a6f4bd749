"""The request context every store call and responder receives."""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who is asking, and about what request.

    Stores only read ``user_id`` (and ``tenant_id`` where set); the rest is for the
    responder and for logs. ``request`` is the raw Starlette request, for advanced use.
    """

    user_id: str
    request_id: str = ""
    tenant_id: str | None = None
    locale: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    base_url: str = ""
    request: Any = field(default=None, repr=False, compare=False)
