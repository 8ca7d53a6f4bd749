"""Errors: each type carries a code and an HTTP status; one handler maps them to JSON.

    BackendError (500, internal_error)
    ├── BadRequestError (400, bad_request)
    │   ├── EmptyBodyError (400, empty_body)
    │   └── InvalidJSONError (400, invalid_json)
    ├── UnauthorizedError (401, unauthorized)
    ├── ForbiddenOriginError (403, forbidden_origin)
    ├── NotFoundError (404, not_found)         <- also chatkit.store.NotFoundError
    ├── MethodNotAllowedError (405, method_not_allowed)
    ├── ConflictError (409, conflict)
    ├── PayloadTooLargeError (413, payload_too_large)
    ├── UnsupportedMediaTypeError (415, unsupported_media_type)
    ├── InvalidRequestError (422, invalid_request)
    ├── RateLimitedError (429, rate_limited)
    ├── NotConfiguredError (501, not_configured)
    └── ServiceUnavailableError (503, unavailable)

Every error body has one shape:
``{"error": {"code": "...", "message": "...", "request_id": "..."}}``.
Before a stream's first byte an error is an HTTP status; after it, the SDK's
``ErrorEvent`` carries it.
"""

from typing import Any, ClassVar


class BackendError(Exception):
    """Base of every error the backend answers with; unknown exceptions become 500."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}

    def body(self, request_id: str) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "request_id": request_id}}


class BadRequestError(BackendError):
    status = 400
    code = "bad_request"


class EmptyBodyError(BadRequestError):
    code = "empty_body"


class InvalidJSONError(BadRequestError):
    code = "invalid_json"


class UnauthorizedError(BackendError):
    status = 401
    code = "unauthorized"

    def __init__(
        self, message: str, *, scheme: str = "Bearer", headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message, headers={"WWW-Authenticate": scheme, **(headers or {})})


class ForbiddenOriginError(BackendError):
    status = 403
    code = "forbidden_origin"


class NotFoundError(BackendError):
    status = 404
    code = "not_found"


class MethodNotAllowedError(BackendError):
    status = 405
    code = "method_not_allowed"


class ConflictError(BackendError):
    status = 409
    code = "conflict"


class PayloadTooLargeError(BackendError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaTypeError(BackendError):
    status = 415
    code = "unsupported_media_type"


class InvalidRequestError(BackendError):
    status = 422
    code = "invalid_request"


class RateLimitedError(BackendError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = retry_after


class NotConfiguredError(BackendError):
    status = 501
    code = "not_configured"


class ServiceUnavailableError(BackendError):
    status = 503
    code = "unavailable"


INTERNAL_ERROR_MESSAGE = (
    "The server failed to handle this request; the log has the details under this request id."
)
