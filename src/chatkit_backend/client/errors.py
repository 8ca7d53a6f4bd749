"""Errors the client raises, each carrying what the server said.

    ChatKitError (status, code, message, request_id, body)
    ├── TransportError               the server could not be reached (status None)
    │   └── RequestTimeout           connect, read or write took too long
    ├── ProtocolError                the answer was not what a ChatKit server sends
    ├── StreamError                  an ``ErrorEvent`` arrived mid-stream (status 200)
    ├── BadRequest (400)
    ├── Unauthorized (401)
    ├── Forbidden (403)
    ├── NotFound (404)
    ├── MethodNotAllowed (405)
    ├── Conflict (409)
    ├── PayloadTooLarge (413)
    ├── UnsupportedMediaType (415)
    ├── InvalidRequest (422)
    ├── RateLimited (429, retry_after)
    └── ServerError (5xx)
        ├── NotConfigured (501)
        └── ServiceUnavailable (503)

Error bodies of shape ``{"error": {"code", "message", "request_id"}}`` (chatkit-backend)
are read field by field; FastAPI's ``{"detail": ...}`` and plain-text bodies still give
a readable message, so the client works against any ChatKit backend.
"""

import json
from typing import Any, ClassVar

import httpx


class ChatKitError(Exception):
    """Base of every client error; ``status`` is the HTTP status, or None without a response."""

    default_code: ClassVar[str] = "error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code or self.default_code
        self.request_id = request_id
        self.body = body

    def __str__(self) -> str:
        where = f"{self.status} " if self.status is not None else ""
        return f"{where}{self.code}: {self.message}"


class TransportError(ChatKitError):
    default_code = "transport_error"


class RequestTimeout(TransportError):
    default_code = "timeout"


class ProtocolError(ChatKitError):
    default_code = "protocol_error"


class StreamError(ChatKitError):
    """The server sent an ``ErrorEvent`` after the stream began."""

    default_code = "stream.error"

    def __init__(self, message: str, *, code: str | None = None, allow_retry: bool = False) -> None:
        super().__init__(message, status=200, code=code)
        self.allow_retry = allow_retry


class BadRequest(ChatKitError):
    default_code = "bad_request"


class Unauthorized(ChatKitError):
    default_code = "unauthorized"


class Forbidden(ChatKitError):
    default_code = "forbidden"


class NotFound(ChatKitError):
    default_code = "not_found"


class MethodNotAllowed(ChatKitError):
    default_code = "method_not_allowed"


class Conflict(ChatKitError):
    default_code = "conflict"


class PayloadTooLarge(ChatKitError):
    default_code = "payload_too_large"


class UnsupportedMediaType(ChatKitError):
    default_code = "unsupported_media_type"


class InvalidRequest(ChatKitError):
    default_code = "invalid_request"


class RateLimited(ChatKitError):
    """429: ``retry_after`` holds the seconds from ``Retry-After`` (None when absent)."""

    default_code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.retry_after = retry_after


class ServerError(ChatKitError):
    default_code = "internal_error"


class NotConfigured(ServerError):
    default_code = "not_configured"


class ServiceUnavailable(ServerError):
    default_code = "unavailable"


ERRORS_BY_STATUS: dict[int, type[ChatKitError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: InvalidRequest,
    429: RateLimited,
    501: NotConfigured,
    503: ServiceUnavailable,
}


def error_class(status: int) -> type[ChatKitError]:
    """The exception type for an HTTP status."""
    if status in ERRORS_BY_STATUS:
        return ERRORS_BY_STATUS[status]
    return ServerError if status >= 500 else ChatKitError


def error_from_response(response: httpx.Response, content: bytes) -> ChatKitError:
    """Build the typed error for a non-2xx response whose body has been read."""
    status = response.status_code
    body: Any
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = content.decode("utf-8", "replace")
    code, message, request_id = _error_fields(body)
    request_id = request_id or response.headers.get("x-request-id")
    if not message:
        message = response.reason_phrase or f"HTTP {status}"
    fields: dict[str, Any] = {
        "status": status,
        "code": code,
        "request_id": request_id,
        "body": body,
    }
    cls = error_class(status)
    if cls is RateLimited:
        return RateLimited(message, retry_after=_retry_after(response), **fields)
    return cls(message, **fields)


def _error_fields(body: Any) -> tuple[str | None, str, str | None]:
    """(code, message, request_id) from any of the error bodies servers send."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return (
                _str_or_none(error.get("code")),
                str(error.get("message") or ""),
                _str_or_none(error.get("request_id")),
            )
        if isinstance(error, str):
            return None, error, None
        detail = body.get("detail")
        if isinstance(detail, str):
            return None, detail, None
        if isinstance(detail, list):
            return None, "; ".join(_describe_detail(entry) for entry in detail), None
        return None, json.dumps(body)[:500], None
    if isinstance(body, str):
        return None, body.strip()[:500], None
    return None, "", None


def _describe_detail(entry: Any) -> str:
    if isinstance(entry, dict):
        loc = ".".join(str(part) for part in entry.get("loc", ()))
        return f"{loc}: {entry.get('msg', '')}" if loc else str(entry.get("msg", ""))
    return str(entry)


def _str_or_none(value: Any) -> str | None:
    return str(value) if value is not None else None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None
