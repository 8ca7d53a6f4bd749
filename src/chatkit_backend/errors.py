"""Errors: each type carries a code and an HTTP status; one function renders them.

Every error the backend answers with is one of these (``tests/test_errors.py`` checks
this tree against the real subclasses, in every module of the package)::

    BackendError (500, internal_error)
    ├── BadRequestError (400, bad_request)
    │   ├── EmptyBodyError (400, empty_body)
    │   ├── InvalidJSONError (400, invalid_json)
    │   ├── CORSRejectedError (400, cors_rejected)
    │   └── InvalidPageError (400, invalid_page)                   stores/errors.py
    ├── UnauthorizedError (401, unauthorized)
    ├── ForbiddenError (403, forbidden)
    │   └── ForbiddenOriginError (403, forbidden_origin)
    ├── UploadTokenError (403, invalid_upload_token)               attachments/errors.py
    ├── NotFoundError (404, not_found)
    │   └── StoreNotFoundError (404, not_found)                    stores/errors.py
    ├── MethodNotAllowedError (405, method_not_allowed)
    ├── ConflictError (409, conflict)
    │   ├── ThreadLockedError (409, thread_locked)
    │   ├── ThreadClosedError (409, thread_closed)
    │   ├── ThreadBusyError (409, thread_busy)
    │   └── AttachmentInUseError (409, attachment_in_use)          attachments/errors.py
    ├── PayloadTooLargeError (413, payload_too_large)
    ├── UnsupportedMediaTypeError (415, unsupported_media_type)
    ├── InvalidRequestError (422, invalid_request)
    │   └── InvalidRecordError (422, invalid_record)               transfer/errors.py
    ├── RateLimitedError (429, rate_limited)
    │   └── QuotaExceededError (429, quota_exceeded)
    ├── NotConfiguredError (501, not_configured)
    ├── ServiceUnavailableError (503, unavailable)
    │   ├── SchemaOutOfDateError (503, schema_out_of_date)         stores/errors.py
    │   ├── StoreUnavailableError (503, store_unavailable)         stores/errors.py
    │   ├── LimiterUnavailableError (503, limiter_unavailable)     auth/limits.py
    │   └── StorageUnavailableError (503, storage_unavailable)     attachments/errors.py
    ├── DatabaseURLError (500, invalid_database_url)               stores/errors.py
    └── TransferError (500, transfer_failed)                       transfer/errors.py
        ├── TransferUsageError (400, transfer_usage)               transfer/errors.py
        ├── HostedAPIError (502, hosted_api_error)                 transfer/errors.py
        └── CopyVerificationError (500, copy_unverified)           transfer/errors.py

(A class defined outside this module names its module at the end of its line.)

``render_error`` turns one into an HTTP answer: the status, the headers and the JSON body
``{"error": {"code": "...", "message": "...", "request_id": "..."}}``. The FastAPI
exception handlers (``http_errors.py``) and the raw-ASGI middleware both use it. Before a
stream's first byte an error is an HTTP status; after it, the SDK's ``ErrorEvent``
carries it.
"""

import json
from dataclasses import dataclass
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
        """The JSON error body: ``{"error": {"code", "message", "request_id"}}``."""
        return {"error": {"code": self.code, "message": self.message, "request_id": request_id}}


class BadRequestError(BackendError):
    status = 400
    code = "bad_request"


class EmptyBodyError(BadRequestError):
    code = "empty_body"


class InvalidJSONError(BadRequestError):
    code = "invalid_json"


class CORSRejectedError(BadRequestError):
    """A CORS preflight from an origin, method or header that is not allowed."""

    code = "cors_rejected"


class UnauthorizedError(BackendError):
    status = 401
    code = "unauthorized"

    def __init__(
        self, message: str, *, scheme: str = "Bearer", headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message, headers={"WWW-Authenticate": scheme, **(headers or {})})


class ForbiddenError(BackendError):
    status = 403
    code = "forbidden"


class ForbiddenOriginError(ForbiddenError):
    """A state-changing request from a browser page of a foreign origin."""

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


class ThreadLockedError(ConflictError):
    """A request that would start a reply on a thread whose status is ``locked``."""

    code = "thread_locked"


class ThreadClosedError(ConflictError):
    """A request that would start a reply on a thread whose status is ``closed``."""

    code = "thread_closed"


class ThreadBusyError(ConflictError):
    """A request that would start a reply on a thread while another reply streams on it."""

    code = "thread_busy"


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


class QuotaExceededError(RateLimitedError):
    """A request that would start a reply for a user (or tenant) who has used up the
    day's token quota (``CHATKIT_TOKEN_QUOTA_PER_DAY``); ``Retry-After`` is the reset."""

    code = "quota_exceeded"


class NotConfiguredError(BackendError):
    status = 501
    code = "not_configured"


class ServiceUnavailableError(BackendError):
    status = 503
    code = "unavailable"


INTERNAL_ERROR_MESSAGE = (
    "The server failed to handle this request; the log has the details under this request id."
)


@dataclass(frozen=True, slots=True)
class RenderedError:
    """An error as an HTTP answer: status, headers (lower-case names) and JSON body bytes."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def render_error(error: BackendError, request_id: str) -> RenderedError:
    """The one rendering of an error: ``error.status``, its headers, the JSON body."""
    body = json.dumps(error.body(request_id), ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8"
    )
    headers = [
        ("content-type", "application/json"),
        ("content-length", str(len(body))),
        *((name.lower(), value) for name, value in error.headers.items()),
    ]
    return RenderedError(error.status, headers, body)


def internal_error() -> BackendError:
    """The generic 500 answered for an unexpected exception (details go to the log)."""
    return BackendError(INTERNAL_ERROR_MESSAGE)


def error_for_status(status: int, message: str) -> BackendError:
    """The error of this module answering with ``status`` (for the framework's own 404s and
    405s); a status no class here answers with becomes a 400 or a 500."""
    for cls in BackendError.__subclasses__():
        if cls.__module__ == __name__ and cls.status == status:
            return cls(message)
    return BadRequestError(message) if 400 <= status < 500 else BackendError(message)
