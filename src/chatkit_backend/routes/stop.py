"""``POST {CHATKIT_PATH}/stop``: stop a reply that is streaming, by the request it answers.

ChatKit's protocol has no "stop" request. The front end's stop button aborts the
``fetch`` of the streaming request (through the ``AbortSignal`` ChatKit passes to
``api.fetch``), which reaches the server as a closed connection, exactly as a reload, a
closed tab or a phone going to sleep do. With ``CHATKIT_ON_DISCONNECT=cancel`` (the
default) every closed connection cancels the reply, so the stop button works as it is.
With ``finish`` a closed connection lets the reply run to its end; the page tells the
two apart, and sends this request when the user pressed stop (docs/frontend.md shows
the ``api.fetch`` that does it):

    POST /chatkit/stop   {"request_id": "<the X-Request-ID of the streaming request>"}

The reply answering that request, on one of the caller's threads, is cancelled (in
this process at once, in another one within a second) and keeps what it generated, as
a cancelled reply does. Answer: 200 ``{"stopping": true}``, or ``{"stopping": false}``
when no such reply is streaming (it ended, or the id is unknown or another user's).
"""

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chatkit_backend.deps import ContextDep
from chatkit_backend.errors import (
    BackendError,
    EmptyBodyError,
    InvalidJSONError,
    InvalidRequestError,
)
from chatkit_backend.routes.chatkit import read_body
from chatkit_backend.server.dispatch import Dispatcher
from chatkit_backend.server.leases import MAX_REQUEST_ID
from chatkit_backend.settings import Settings


class StopRequest(BaseModel):
    """The body of a stop request."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=MAX_REQUEST_ID)
    """The ``X-Request-ID`` the streaming request was sent with."""


class StopAnswer(BaseModel):
    stopping: bool
    """True when a reply answering that request was streaming and is being stopped."""


def parse_stop_request(body: bytes) -> StopRequest:
    """The body as a ``StopRequest``, whatever its ``Content-Type`` (as the ChatKit endpoint
    reads its own): an empty body is 400 ``empty_body``, one that is not JSON 400
    ``invalid_json``, a JSON value that is not ``{"request_id": "..."}`` 422
    ``invalid_request`` naming the field."""
    if not body.strip():
        raise EmptyBodyError('request body is empty: POST {"request_id": "<X-Request-ID>"}')
    try:
        return StopRequest.model_validate_json(body)
    except ValidationError as exc:
        raise _stop_error(exc) from None


def _stop_error(exc: ValidationError) -> BackendError:
    first = exc.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        return InvalidJSONError(
            f"body is not valid JSON: {first.get('ctx', {}).get('error', first['msg'])}"
        )
    path = ".".join(str(part) for part in first["loc"]) or "body"
    return InvalidRequestError(f"invalid stop request: {path}: {first['msg']}")


def stop_path(settings: Settings) -> str:
    """``{CHATKIT_PATH}/stop`` (``/stop`` when the endpoint is at ``/``)."""
    return settings.path.rstrip("/") + "/stop"


def build_stop_router(settings: Settings, dispatcher: Dispatcher) -> APIRouter:
    router = APIRouter()

    @router.post(stop_path(settings), name="stop_reply")
    async def stop_reply(request: Request, context: ContextDep) -> StopAnswer:
        """Stop the reply answering ``request_id`` (see the module docstring)."""
        body = parse_stop_request(await read_body(request, settings.max_body_bytes))
        return StopAnswer(stopping=await dispatcher.leases.stop(body.request_id, context))

    return router
