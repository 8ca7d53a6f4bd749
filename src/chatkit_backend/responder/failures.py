"""Model failures as user-safe messages: what the chat shows, and whether a retry can help.

The detail (status, server message, URL) goes to the log with the request id; the user
sees a message that names no secret and no internal address.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass

import openai
from agents.exceptions import (
    InputGuardrailTripwireTriggered,
    MaxTurnsExceeded,
    ModelBehaviorError,
    OutputGuardrailTripwireTriggered,
)
from pydantic import ValidationError

from chatkit_backend.responder.guard import ModelTimeoutError


@dataclass(frozen=True, slots=True)
class ModelFailure:
    code: str
    """Short name for logs and metrics: ``unreachable``, ``timeout``, ``rate_limited``..."""
    message: str
    """Shown to the user."""
    allow_retry: bool


UNREACHABLE = ModelFailure(
    "unreachable", "The assistant's model server could not be reached. Try again in a moment.", True
)
CONNECTION_LOST = ModelFailure(
    "connection_lost", "The connection to the assistant's model server was lost. Try again.", True
)
TIMEOUT = ModelFailure(
    "timeout", "The assistant's model took too long to respond. Try again.", True
)
UNAUTHORIZED = ModelFailure(
    "unauthorized",
    "The assistant's model server rejected this server's credentials. "
    "An administrator needs to check its API key.",
    False,
)
NOT_FOUND = ModelFailure(
    "model_not_found",
    "The assistant's model was not found on the model server. "
    "An administrator needs to check the configured model.",
    False,
)
RATE_LIMITED = ModelFailure(
    "rate_limited",
    "The assistant's model server is busy (rate limited). Wait a moment and try again.",
    True,
)
SERVER_ERROR = ModelFailure(
    "server_error", "The assistant's model server had an internal error. Try again.", True
)
REJECTED = ModelFailure(
    "rejected",
    "The assistant's model server refused this request (it may be too long, or not supported by the model).",
    False,
)
BAD_RESPONSE = ModelFailure(
    "bad_response",
    "The assistant's model server sent a response that could not be read. Try again.",
    True,
)
GUARDRAIL = ModelFailure("guardrail", "The assistant cannot help with this request.", False)
MAX_TURNS = ModelFailure(
    "max_turns", "The assistant stopped after too many steps without finishing its answer.", True
)
INTERNAL = ModelFailure(
    "internal", "Something went wrong while generating a response. Try again.", True
)


def classify(exc: BaseException) -> ModelFailure:
    """The user-facing failure for an exception raised while the model was answering."""
    for error in _chain(exc):
        failure = _classify_one(error)
        if failure is not None:
            return failure
    return INTERNAL


def _classify_one(error: BaseException) -> ModelFailure | None:
    match error:
        case ModelTimeoutError() | openai.APITimeoutError() | TimeoutError():
            return TIMEOUT
        case openai.APIConnectionError():
            connect_failed = any(
                isinstance(cause, ConnectionRefusedError) or _named(cause, "ConnectError")
                for cause in _chain(error)
            )
            return UNREACHABLE if connect_failed else CONNECTION_LOST
        case openai.AuthenticationError() | openai.PermissionDeniedError():
            return UNAUTHORIZED
        case openai.NotFoundError():
            return NOT_FOUND
        case openai.RateLimitError():
            return RATE_LIMITED
        case openai.InternalServerError():
            return SERVER_ERROR
        case openai.APIStatusError() if error.status_code >= 500:
            return SERVER_ERROR
        case openai.BadRequestError() | openai.UnprocessableEntityError() | openai.APIStatusError():
            return REJECTED
        case openai.APIResponseValidationError() | ModelBehaviorError() | json.JSONDecodeError():
            return BAD_RESPONSE
        case openai.APIError():
            # An error event inside the stream (the server said something went wrong).
            return SERVER_ERROR
        case ConnectionRefusedError():
            return UNREACHABLE
        case ConnectionError():
            return CONNECTION_LOST
        case ValidationError():
            return BAD_RESPONSE
        case InputGuardrailTripwireTriggered() | OutputGuardrailTripwireTriggered():
            return GUARDRAIL
        case MaxTurnsExceeded():
            return MAX_TURNS
    # httpx and httpx2 (which the openai client uses) share these class names.
    if _named(error, "TimeoutException"):
        return TIMEOUT
    if _named(error, "ConnectError"):
        return UNREACHABLE
    if _named(error, "TransportError"):
        return CONNECTION_LOST
    return None


def _named(error: BaseException, name: str) -> bool:
    return any(cls.__name__ == name for cls in type(error).__mro__)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def describe_error(exc: BaseException) -> str:
    """A one-line account of the error for the log (status and server message included)."""
    status = getattr(exc, "status_code", None)
    request_id = getattr(exc, "request_id", None)
    parts = [type(exc).__name__]
    if status is not None:
        parts.append(f"status={status}")
    if request_id:
        parts.append(f"upstream_request_id={request_id}")
    parts.append(str(exc)[:500])
    return " ".join(parts)
