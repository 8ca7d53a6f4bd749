"""POST on the ChatKit endpoint: body -> parse -> dispatch -> JSON or text/event-stream."""

import logging

from chatkit.types import ItemsFeedbackReq, is_streaming_req
from fastapi import APIRouter, Request, Response

from chatkit_backend.deps import ContextDep, services_of
from chatkit_backend.errors import EmptyBodyError, PayloadTooLargeError
from chatkit_backend.redaction import redacted_headers
from chatkit_backend.routes.sse import EventStreamResponse
from chatkit_backend.server.dispatch import Dispatcher, parse_request
from chatkit_backend.settings import Settings

logger = logging.getLogger("chatkit_backend.requests")

EMPTY_BODY_MESSAGE = 'request body is empty: POST a ChatKit request as JSON, e.g. {"type": "threads.list", "params": {}}'


async def read_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing it (413) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    too_large = PayloadTooLargeError(
        f"request body is larger than the limit of {limit} bytes (CHATKIT_MAX_BODY_BYTES)"
    )
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def build_chatkit_router(settings: Settings, dispatcher: Dispatcher) -> APIRouter:
    """The ChatKit endpoint at ``settings.path``.

    Settings and dispatcher are bound here rather than injected: on the hottest route each
    FastAPI dependency costs tens of microseconds per request. Only the context (auth) is
    a dependency, since users may replace it with their own.
    """
    router = APIRouter()

    @router.post(settings.path, name="chatkit", response_model=None)
    async def chatkit_endpoint(request: Request, context: ContextDep) -> Response:
        body = await read_body(request, settings.max_body_bytes)
        if settings.debug:
            logger.info(
                "%s %s headers=%s body=%r",
                request.method,
                request.url.path,
                redacted_headers(request.headers.items()),
                body[:500],
            )
        if not body.strip():
            raise EmptyBodyError(EMPTY_BODY_MESSAGE)
        parsed = parse_request(body)
        request.state.operation = parsed.type
        request.state.context = context  # for the request's trace span (hashed)
        if is_streaming_req(parsed):
            quotas = services_of(request).quotas
            if quotas is not None:  # 429 quota_exceeded before any stream (or thread) starts
                await quotas.check(context)
        result = await dispatcher.handle(parsed, context)
        if result.stream is None:
            if isinstance(parsed, ItemsFeedbackReq):
                services_of(request).metrics.feedback.labels(parsed.params.kind).inc()
            return Response(result.json, media_type="application/json")
        services = services_of(request)
        try:
            release = await services.limiter.acquire_stream(context)
        except BaseException:
            if result.close is not None:  # the thread's reply lease, taken for nothing
                await result.close()
            raise
        metrics = services.metrics
        metrics.open_streams.inc()
        close = result.close

        async def on_close() -> None:
            metrics.open_streams.dec()
            await release()
            if close is not None:
                await close()

        finish = settings.on_disconnect == "finish"
        return EventStreamResponse(
            result.stream,
            on_close=on_close,
            on_disconnect=(result.detach or _run_on) if finish else None,
        )

    return router


def _run_on() -> None:
    """A reply without a lease to tell (a server of the user's own): it just runs on."""
