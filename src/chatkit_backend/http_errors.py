"""The one place where errors become HTTP responses of the shape
``{"error": {"code", "message", "request_id"}}``."""

from chatkit.store import NotFoundError as StoreNotFoundError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from chatkit_backend.errors import BackendError, InvalidRequestError, NotFoundError

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    501: "not_configured",
    503: "unavailable",
}


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def error_response(request: Request, error: BackendError) -> JSONResponse:
    return JSONResponse(
        error.body(request_id_of(request)), status_code=error.status, headers=error.headers or None
    )


async def _backend_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BackendError)
    return error_response(request, exc)


async def _store_not_found(request: Request, exc: Exception) -> JSONResponse:
    return error_response(request, NotFoundError(str(exc) or "not found"))


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route for {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    body = {
        "error": {
            "code": HTTP_CODES.get(exc.status_code, "error"),
            "message": message,
            "request_id": request_id_of(request),
        }
    }
    return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
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
