"""OpenTelemetry tracing, switched on by the standard ``OTEL_*`` variables.

``configure_tracing`` sets up this process (once; ``chatkit-backend serve`` calls it in
each worker): the OpenTelemetry SDK's tracer provider, its resource (``service.name``
from ``OTEL_SERVICE_NAME``, default ``chatkit-backend``), its sampler
(``OTEL_TRACES_SAMPLER``/``_ARG``) and a batch span processor over the exporters of
``OTEL_TRACES_EXPORTER`` (default ``otlp``: OTLP over HTTP/protobuf to
``OTEL_EXPORTER_OTLP_ENDPOINT``, or gRPC with ``OTEL_EXPORTER_OTLP_PROTOCOL=grpc`` when
``opentelemetry-exporter-otlp-proto-grpc`` is installed; ``console`` prints spans). It
instruments the HTTP clients (httpx, httpx2 and aiohttp: the model server's requests), SQLAlchemy (migrations and schema
checks; skipped, quietly, when the installed SQLAlchemy is newer than its
instrumentation supports), asyncpg (PostgreSQL statements) and the Agents SDK, whose spans (agent,
generation/response, function and MCP tool calls, handoffs, guardrails) become
OpenTelemetry spans through OpenInference's processor (``openinference-instrumentation-
openai-agents``), in the same trace as the request. Unless ``CHATKIT_OPENAI_TRACING`` is
on, that processor replaces the SDK's exporter to OpenAI.

``instrument_app`` then traces one app: a server span per request (FastAPI's
instrumentation; ``/healthz``, ``/readyz`` and ``/metrics`` left out), with
``chatkit.request_id``, ``chatkit.operation`` and ``enduser.pseudo.id`` (the user id's
SHA-256, never the id itself: ``user_pseudonym``); a ``store.<method>`` span per store
call; a ``chatkit.turn`` span around each reply, carrying its model and token counts.

Prompts, replies and tool arguments stay out of spans unless ``CHATKIT_TRACE_CONTENT``.
Every import of OpenTelemetry is in this module, which is loaded only when tracing is on.
"""

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from importlib.util import find_spec
from typing import Any

from chatkit_backend.errors import BackendError
from chatkit_backend.observability import (
    mark_agents_bridged,
    tracing_requested,
    user_pseudonym,
)
from chatkit_backend.observability.usage import ReplyUsage
from chatkit_backend.settings import Settings, SettingsError

logger = logging.getLogger("chatkit_backend.tracing")

INSTALL_HINT = (
    "OTEL_* variables ask for tracing, but the OpenTelemetry packages are not installed: "
    "pip install 'chatkit-backend[otel]' (or unset OTEL_TRACES_EXPORTER and "
    "OTEL_EXPORTER_OTLP_ENDPOINT)"
)
DEFAULT_SERVICE_NAME = "chatkit-backend"
EXCLUDED_URLS = "/healthz,/readyz,/metrics"
TRACER_NAME = "chatkit_backend"
STORE_METHODS = (
    "ping",
    "load_thread",
    "save_thread",
    "load_threads",
    "load_threads_json",
    "delete_thread",
    "update_thread",
    "load_thread_items",
    "add_thread_item",
    "add_thread_items",
    "save_item",
    "load_item",
    "delete_thread_item",
    "save_attachment",
    "load_attachment",
    "delete_attachment",
    "save_feedback",
    "load_feedback",
    "acquire_thread_lease",
    "renew_thread_lease",
    "release_thread_lease",
    "request_reply_stop",
    "save_usage",
    "usage_tokens",
)
"""The store calls that get a span of their own."""

_configured_in: int | None = None
"""The process id ``configure_tracing`` last ran in (a forked child sets up again)."""


def configure_tracing(
    settings: Settings | None = None, *, environ: Mapping[str, str] | None = None
) -> bool:
    """Set up tracing for this process when ``OTEL_*`` asks for it; whether it is on.

    Call it once per process, before the app is built (``chatkit-backend serve`` does, in
    each worker); a second call in the same process does nothing. ``environ`` defaults to
    ``os.environ`` (the OpenTelemetry SDK reads its own variables there).

    Raises ``SettingsError`` when ``OTEL_*`` asks for tracing but the ``otel`` extra is
    not installed, or names an exporter or protocol that is not available.
    """
    global _configured_in
    environ = os.environ if environ is None else environ
    if not tracing_requested(environ):
        return False
    if _configured_in == os.getpid():
        return True
    settings = settings or Settings()
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise SettingsError(INSTALL_HINT) from None

    provider = TracerProvider(resource=Resource.create(_resource_attributes(environ)))
    for exporter in _exporters(environ):
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _instrument_libraries(settings)
    _configured_in = os.getpid()
    return True


def _resource_attributes(environ: Mapping[str, str]) -> dict[str, str]:
    """``service.name`` defaults to ``chatkit-backend`` (the SDK's own default would be
    ``unknown_service``); the variables still win (``Resource.create`` reads them)."""
    from importlib.metadata import PackageNotFoundError, version

    attributes: dict[str, str] = {}
    named = environ.get("OTEL_SERVICE_NAME") or "service.name=" in environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    if not named:
        attributes["service.name"] = DEFAULT_SERVICE_NAME
    with contextlib.suppress(PackageNotFoundError):
        attributes["service.version"] = version("chatkit-backend")
    return attributes


def _exporters(environ: Mapping[str, str]) -> list[Any]:
    names = [
        name.strip().lower()
        for name in environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")
        if name.strip()
    ]
    exporters = []
    for name in names:
        if name == "none":
            continue
        if name == "otlp":
            exporters.append(_otlp_exporter(environ))
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter())
        else:
            raise SettingsError(
                f"OTEL_TRACES_EXPORTER: {name!r} is not supported here; use otlp or console"
            )
    return exporters


def _otlp_exporter(environ: Mapping[str, str]) -> Any:
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
                OTLPSpanExporter as GrpcExporter,
            )
        except ImportError:
            raise SettingsError(
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs opentelemetry-exporter-otlp-proto-grpc "
                "(pip install it), or use http/protobuf"
            ) from None
        return GrpcExporter()
    if protocol != "http/protobuf":
        raise SettingsError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not supported; use http/protobuf or grpc"
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def instrument_if_supported(instrumentor: Any) -> bool:
    """Instrument a library (``instrumentor``: an OpenTelemetry ``BaseInstrumentor``) when
    its installed version is one the instrumentation supports; else skip it, logged at
    DEBUG only. True when instrumented.

    The instrumentation's own check logs an error on every start instead (SQLAlchemy 2.1
    with ``opentelemetry-instrumentation-sqlalchemy`` 0.66: "nothing can be instrumented"),
    which reads as if tracing were broken when only that library's spans are missing.
    """
    from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

    conflict = get_dependency_conflicts(instrumentor.instrumentation_dependencies())
    if conflict is not None:
        logger.debug("not instrumenting %s: %s", type(instrumentor).__name__, conflict)
        return False
    instrumentor.instrument()
    return True


def _instrument_libraries(settings: Settings) -> None:
    """httpx (and httpx2), aiohttp, SQLAlchemy, asyncpg and the Agents SDK, process-wide."""
    from openinference.instrumentation import TraceConfig
    from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    HTTPXClientInstrumentor().instrument()
    # The openai client speaks through httpx2 in recent releases: trace both.
    from opentelemetry.instrumentation import httpx as httpx_instrumentation

    httpx2_instrumentor = getattr(httpx_instrumentation, "HTTPX2ClientInstrumentor", None)
    if httpx2_instrumentor is not None and find_spec("httpx2") is not None:
        httpx2_instrumentor().instrument()
    if find_spec("aiohttp") is not None:  # the model client's transport (responder/http_client.py)
        from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

        AioHttpClientInstrumentor().instrument()
    instrument_if_supported(SQLAlchemyInstrumentor())
    instrument_if_supported(AsyncPGInstrumentor())  # type: ignore[no-untyped-call]
    hidden = not settings.trace_content
    OpenAIAgentsInstrumentor().instrument(
        # Replace the SDK's exporter to OpenAI, unless CHATKIT_OPENAI_TRACING keeps it.
        exclusive_processor=not settings.openai_tracing,
        config=TraceConfig(
            hide_inputs=hidden,
            hide_outputs=hidden,
            hide_input_messages=hidden,
            hide_output_messages=hidden,
        ),
    )
    mark_agents_bridged()


# -- one app ------------------------------------------------------------------------------
def instrument_app(app: Any) -> None:
    """Trace ``app`` (built by ``create_app``): request, store and turn spans (module
    docstring). Call it after ``configure_tracing``, before the app starts; a second call
    does nothing."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    if getattr(app.state, "chatkit_traced", False):
        return
    app.state.chatkit_traced = True
    FastAPIInstrumentor.instrument_app(
        app,
        excluded_urls=EXCLUDED_URLS,
        # A span per SSE chunk would cost per streamed event: the request span is enough.
        exclude_spans=["receive", "send"],
    )
    app.add_middleware(RequestSpanMiddleware)
    services = app.state.services
    trace_store(services.store)
    responder = services.responder
    if responder is not None:
        responder.respond = traced_turns(responder.respond)
    if services.usage is not None:
        services.usage.span_hook = usage_on_span


def _tracer() -> Any:
    from opentelemetry import trace

    return trace.get_tracer(TRACER_NAME)


class RequestSpanMiddleware:
    """Names the request on its server span as its answer starts: ``chatkit.request_id``,
    ``chatkit.operation``, and ``enduser.pseudo.id`` for ChatKit requests. (The server
    span ends with the answer's last byte, so it is named at the first.)"""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from opentelemetry import trace

        span = trace.get_current_span()
        if not span.is_recording():
            await self.app(scope, receive, send)
            return

        async def send_named(message: Any) -> None:
            if message["type"] == "http.response.start":
                span.set_attributes(_request_attributes(scope.get("state") or {}))
            await send(message)

        await self.app(scope, receive, send_named)


def _request_attributes(state: Mapping[str, Any]) -> dict[str, str]:
    attributes: dict[str, str] = {}
    if state.get("request_id"):
        attributes["chatkit.request_id"] = str(state["request_id"])
    if state.get("operation"):
        attributes["chatkit.operation"] = str(state["operation"])
    owner = _owner(state.get("context"))
    if owner is not None:
        attributes["enduser.pseudo.id"] = user_pseudonym(owner)
    return attributes


def _owner(context: Any) -> str | None:
    if context is None:
        return None
    from chatkit_backend.stores.base import owner_of

    try:
        return owner_of(context)
    except TypeError:
        return None


def trace_store(store: Any) -> None:
    """Give each call of ``STORE_METHODS`` on this store object a ``store.<method>`` span
    (``db.system.name``: the store's kind). A ``BackendError`` below 500 (not found, a bad
    cursor) is an answer, not a failure: the span is not marked as an error."""
    from opentelemetry.trace import SpanKind, Status, StatusCode

    if getattr(store, "_chatkit_traced", False):
        return
    kind = str(getattr(store, "kind", "store"))
    span_kind = SpanKind.INTERNAL if kind == "memory" else SpanKind.CLIENT
    tracer = _tracer()

    def traced(name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        attributes = {"db.system.name": kind, "db.operation.name": name}

        async def call(*args: Any, **kwargs: Any) -> Any:
            with tracer.start_as_current_span(
                f"store.{name}",
                kind=span_kind,
                attributes=attributes,
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                try:
                    return await method(*args, **kwargs)
                except BackendError as exc:
                    if exc.status >= 500:
                        _failed(span, exc, Status, StatusCode)
                    raise
                except Exception as exc:
                    _failed(span, exc, Status, StatusCode)
                    raise

        call.__name__ = name
        call.__doc__ = method.__doc__
        return call

    for name in STORE_METHODS:
        method = getattr(store, name, None)
        if method is not None:
            setattr(store, name, traced(name, method))
    store._chatkit_traced = True


def _failed(span: Any, exc: BaseException, status: Any, code: Any) -> None:
    span.record_exception(exc)
    span.set_status(status(code.ERROR, f"{type(exc).__name__}: {exc}"))


Respond = Callable[[Any, Any, Any, Any], AsyncIterator[Any]]


def traced_turns(respond: Respond) -> Respond:
    """``respond`` (a responder's) inside a ``chatkit.turn`` span: the Agents SDK's run
    and its model calls become its children. Closing the wrapper closes ``respond``."""
    tracer = _tracer()

    async def turn(server: Any, thread: Any, item: Any, context: Any) -> AsyncIterator[Any]:
        attributes = {"chatkit.thread_id": thread.id}
        owner = _owner(context)
        if owner is not None:
            attributes["enduser.pseudo.id"] = user_pseudonym(owner)
        request_id = getattr(context, "request_id", "")
        if request_id:
            attributes["chatkit.request_id"] = request_id
        with tracer.start_as_current_span("chatkit.turn", attributes=attributes):
            events = respond(server, thread, item, context)
            try:
                async for event in events:
                    yield event
            finally:
                aclose = getattr(events, "aclose", None)
                if aclose is not None:
                    await aclose()

    return turn


def usage_on_span(reply: ReplyUsage) -> None:
    """The reply's model and tokens on the current span (the turn's), in the
    OpenTelemetry GenAI conventions' names."""
    from opentelemetry import trace

    span = trace.get_current_span()
    if not span.is_recording():
        return
    attributes: dict[str, str | int | float] = {
        "gen_ai.request.model": reply.model,
        "gen_ai.usage.input_tokens": reply.input_tokens,
        "gen_ai.usage.output_tokens": reply.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": reply.cached_tokens,
        "gen_ai.usage.reasoning.output_tokens": reply.reasoning_tokens,
        "chatkit.outcome": reply.outcome,
    }
    if reply.first_token_seconds is not None:
        attributes["chatkit.first_token_seconds"] = reply.first_token_seconds
    span.set_attributes(attributes)
