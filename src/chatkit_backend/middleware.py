"""Pure-ASGI middleware: request id, access log, metrics, and the last-resort 500.

Pure ASGI (not ``BaseHTTPMiddleware``) so streams pass through untouched and the
per-request cost stays small. Error answers are rendered by ``http_errors.send_error``.
"""

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatkit_backend.errors import CORSRejectedError, ForbiddenOriginError, internal_error
from chatkit_backend.http_errors import response_for, send_error
from chatkit_backend.logs import request_id_var
from chatkit_backend.metrics import Metrics

access_logger = logging.getLogger("chatkit_backend.access")
error_logger = logging.getLogger("chatkit_backend.errors")

CLIENT_CLOSED_REQUEST = 499  # nginx's status for a client that left before the answer
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if REQUEST_ID_PATTERN.match(text) else None
    return None


def _operation(scope: Scope) -> str:
    state = scope.get("state") or {}
    if state.get("operation"):
        return str(state["operation"])
    route = scope.get("route")
    path = getattr(route, "path", None)
    return f"{scope['method']} {path}" if path else "unmatched"


class RequestMiddleware:
    """Gives every request an id (echoed in ``X-Request-ID``), logs and counts it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            if not response_started:
                status = CLIENT_CLOSED_REQUEST  # gone before its body was read: nothing to answer
        finally:
            seconds = time.perf_counter() - started
            operation = _operation(scope)
            self.metrics.observe(operation, status, seconds)
            client = scope.get("client")
            access_logger.info(
                '%s "%s %s" %s %s %.1fms',
                client[0] if client else "-",
                scope["method"],
                scope["path"],
                status,
                operation,
                seconds * 1000,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "operation": operation,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )
            request_id_var.reset(token)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class OriginGuardMiddleware:
    """Refuses state-changing requests that a browser sends from a foreign origin (403).

    CORS only stops a page from *reading* a cross-origin answer; a "simple" POST
    (``text/plain`` or form-encoded, no preflight) still reaches the server and acts.
    Browsers name the page's origin in ``Origin`` on every POST, so a request whose
    origin is neither allowed (``CHATKIT_CORS_ORIGINS``) nor the server's own is refused
    before it runs. Requests without ``Origin`` (curl, servers, SDKs) pass.

    With ``same_host`` a page served by this host under any name may also act. It is off
    for ``CHATKIT_AUTH=none``: a DNS-rebinding page is "same host" by name, and with no
    credentials nothing else would stop it from reading the local user's threads.
    """

    def __init__(self, app: ASGIApp, allowed_origins: list[str], same_host: bool = True) -> None:
        self.app = app
        self.any_origin = "*" in allowed_origins
        self.allowed = frozenset(allowed_origins)
        self.same_host = same_host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS or self.any_origin:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if (
            origin is None
            or origin in self.allowed
            or (self.same_host and origin == _own_origin(scope, headers))
        ):
            await self.app(scope, receive, send)
            return
        error = ForbiddenOriginError(
            f"requests from origin {origin!r} are not allowed: add it to CHATKIT_CORS_ORIGINS"
        )
        await send_error(send, error, scope.get("state", {}).get("request_id", ""))


def _own_origin(scope: Scope, headers: Headers) -> str:
    return f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"


class InternalErrorMiddleware:
    """The one last-resort layer: an unexpected exception becomes the generic JSON 500.

    It sits inside the CORS middleware, so a browser on another origin can read the 500
    (with its request id), and inside ``RequestMiddleware``, so the access log shows it.
    The traceback goes to the log once. An exception after the response started cannot
    be answered: it is logged and the response ends where it was.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def watch(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except ClientDisconnect:
            raise
        except Exception:
            error_logger.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if not response_started:
                await send_error(
                    send, internal_error(), scope.get("state", {}).get("request_id", "")
                )


class StrictCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, except that a refused preflight carries no ``Access-Control-Allow-*``
    header at all, and says why in the usual error shape."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return response
        reason = bytes(response.body).decode()
        error = CORSRejectedError(
            f"{reason} (CHATKIT_CORS_ORIGINS lists the allowed origins)", headers={"Vary": "Origin"}
        )
        return response_for(error, request_id_var.get())
