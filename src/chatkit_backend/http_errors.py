"""Errors to HTTP: the FastAPI exception handlers and the raw-ASGI sender, both through
``errors.render_error``.

Every error answer has the shape ``{"error": {"code", "message", "request_id"}}``; the
code and status come from the error's class. The framework's own errors (an unknown
route, a wrong method, a request FastAPI cannot validate) are mapped to those classes.
"""

import logging

from chatkit.store import NotFoundError as StoreNotFoundError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Send

from chatkit_backend.errors import (
    BackendError,
    InvalidRequestError,
    NotFoundError,
    error_for_status,
    render_error,
)

logger = logging.getLogger("chatkit_backend.errors")


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def response_for(error: BackendError, request_id: str) -> Response:
    """The error as a Starlette response."""
    rendered = render_error(error, request_id)
    response = Response(rendered.body, status_code=rendered.status)
    response.raw_headers = [
        (name.encode("latin-1"), value.encode("latin-1")) for name, value in rendered.headers
    ]
    return response


def error_response(request: Request, error: BackendError) -> Response:
    """The error as a response to ``request`` (with its request id)."""
    return response_for(error, request_id_of(request))


async def send_error(send: Send, error: BackendError, request_id: str) -> None:
    """Send the error as the whole response on a raw ASGI ``send`` (for middleware)."""
    rendered = render_error(error, request_id)
    await send(
        {
            "type": "http.response.start",
            "status": rendered.status,
            "headers": [
                (name.encode("latin-1"), value.encode("latin-1"))
                for name, value in rendered.headers
            ],
        }
    )
    await send({"type": "http.response.body", "body": rendered.body})


async def _backend_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BackendError)
    if exc.status >= 500:  # our fault or a service's: one line each, the cause logged once
        logger.warning(
            "%s %s answered %s %s: %s",
            request.method,
            request.url.path,
            exc.status,
            exc.code,
            exc.message,
            extra={"request_id": request_id_of(request)},
        )
    return error_response(request, exc)


async def _store_not_found(request: Request, exc: Exception) -> Response:
    return error_response(request, NotFoundError(str(exc) or "not found"))


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route for {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    error = error_for_status(exc.status_code, message)
    error.headers.update(getattr(exc, "headers", None) or {})
    return error_response(request, error)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        ".".join(str(part) for part in error.get("loc", ())) + ": " + str(error.get("msg"))
        for error in exc.errors()[:5]
    ]
    return error_response(request, InvalidRequestError("; ".join(problems) or "invalid request"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(BackendError, _backend_error)
    app.add_exception_handler(StoreNotFoundError, _store_not_found)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
