"""``create_app``: the FastAPI app factory. It alone (with the CLI) picks concrete classes.

``chatkit-backend serve`` runs it with uvicorn in factory mode, so ``--reload`` and
``--workers`` work; what it builds is one ``Services`` object on ``app.state.services``.
"""

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from chatkit.server import ChatKitServer
from chatkit.store import AttachmentStore
from fastapi import FastAPI, Request

from chatkit_backend.auth import context_builder, limiter_from_settings
from chatkit_backend.context import RequestContext
from chatkit_backend.deps import get_context
from chatkit_backend.http_errors import install_error_handlers
from chatkit_backend.metrics import Metrics
from chatkit_backend.middleware import (
    InternalErrorMiddleware,
    OriginGuardMiddleware,
    RequestMiddleware,
    StrictCORSMiddleware,
)
from chatkit_backend.observability.quotas import quotas_from_settings
from chatkit_backend.observability.usage import UsageRecorder
from chatkit_backend.routes.chatkit import build_chatkit_router
from chatkit_backend.routes.ops import build_debug_router, build_ops_router
from chatkit_backend.routes.stop import build_stop_router
from chatkit_backend.server.actions import ActionHandler, Actions
from chatkit_backend.server.chatkit_server import BackendServer
from chatkit_backend.server.dispatch import Dispatcher
from chatkit_backend.services import Services
from chatkit_backend.settings import Settings, load_settings
from chatkit_backend.stores import BackendStore, store_from_settings

if TYPE_CHECKING:
    from chatkit_backend.attachments import BackendAttachmentStore

ServerFactory = Callable[..., ChatKitServer[Any]]
ContextDependency = Callable[..., Awaitable[Any]] | Callable[..., Any]
"""A FastAPI dependency returning the request context (``async def build(request)`` is
called directly; anything else is installed as a dependency override)."""


def create_app(
    settings: Settings | None = None,
    *,
    server: ChatKitServer[Any] | ServerFactory | None = None,
    context: ContextDependency | None = None,
    store: BackendStore | None = None,
    agent: Any = None,
    tools: Sequence[Any] | None = None,
    converter: Any = None,
    actions: Actions | Mapping[str, ActionHandler] | None = None,
) -> FastAPI:
    """Build the app. It changes nothing outside itself (no logging set-up, no ``gc``
    tuning: ``chatkit-backend serve`` does those), so it can be mounted in an app of yours.

    - ``settings``: defaults to ``Settings()`` read from the environment and ``.env``.
    - ``server``: a ``ChatKitServer`` instance, a subclass, or any factory called as
      ``factory(store, attachment_store)``. Default: ``BackendServer`` answering through
      an Agents SDK agent (``agent``, ``tools`` and ``converter`` customise it).
    - ``agent``: an ``agents.Agent``, a factory ``(context) -> Agent`` (sync or async)
      called per reply, or ``"module:attribute"`` naming one. Default: ``CHATKIT_AGENT``,
      else the built-in assistant. ``CHATKIT_TOOLS`` are merged into it.
    - ``context``: a FastAPI dependency returning the request context (anything with a
      ``user_id``). Default: the auth mode from ``CHATKIT_AUTH``.
    - ``store``: a ``BackendStore``. Default: from ``CHATKIT_DATABASE_URL``.
    - ``actions``: widget action handlers, ``{"type": handler}`` or an ``Actions``
      registry (``@actions.action("type")``); see ``chatkit_backend.server.actions``. They
      need a ``BackendServer`` (the default, a subclass, or an instance): ``TypeError``
      with another server.

    Raises ``SettingsError`` for settings that cannot work (e.g. a model without a key,
    hosted tools with a Chat Completions model, an agent reference that does not load).
    """
    settings = settings or load_settings()
    services = build_services(
        settings,
        server=server,
        context=context,
        store=store,
        agent=agent,
        tools=tools,
        converter=converter,
        actions=actions,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.open()
        try:
            yield
        finally:
            await services.close()

    app = FastAPI(
        title="chatkit-backend",
        lifespan=lifespan,
        docs_url="/docs" if settings.debug else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.debug else None,
    )
    app.state.services = services
    if services.context_builder is None and context is not None:
        app.dependency_overrides[get_context] = context

    install_error_handlers(app)
    app.include_router(build_chatkit_router(settings, services.dispatcher))
    app.include_router(build_stop_router(settings, services.dispatcher))
    app.include_router(build_ops_router())
    _include_optional_routers(app, settings, services.attachment_store)
    if settings.debug:
        app.include_router(build_debug_router(app))

    app.add_middleware(InternalErrorMiddleware)  # innermost: its 500 gets CORS headers
    app.add_middleware(
        OriginGuardMiddleware,
        allowed_origins=trusted_origins(settings),
        same_host=settings.auth != "none",
    )
    _add_cors(app, settings)
    app.add_middleware(RequestMiddleware, metrics=services.metrics)
    return app


def build_services(
    settings: Settings,
    *,
    server: ChatKitServer[Any] | ServerFactory | None = None,
    context: ContextDependency | None = None,
    store: BackendStore | None = None,
    agent: Any = None,
    tools: Sequence[Any] | None = None,
    converter: Any = None,
    actions: Actions | Mapping[str, ActionHandler] | None = None,
) -> Services:
    """Everything an app runs on, built from the settings (see ``create_app``)."""
    store = store or store_from_settings(settings)
    attachment_store = _attachment_store(settings, store)
    responder = None
    transcriber = None
    if server is None or (inspect.isclass(server) and issubclass(server, BackendServer)):
        responder = _responder(
            settings, agent=agent, tools=tools, converter=converter, attachments=attachment_store
        )
        transcriber = _transcriber(settings)
    chatkit_server = _build_server(server, store, attachment_store, responder, transcriber)
    _add_actions(chatkit_server, actions)
    builder = context or context_builder(settings)
    metrics = Metrics()
    quotas = quotas_from_settings(settings, chatkit_server.store)
    usage = UsageRecorder(metrics, store=chatkit_server.store, quotas=quotas)
    if responder is not None:
        responder.usage = usage
    return Services(
        settings=settings,
        server=chatkit_server,
        dispatcher=Dispatcher(chatkit_server, lease_ttl=settings.reply_lease_seconds),
        limiter=limiter_from_settings(settings),
        metrics=metrics,
        quotas=quotas,
        usage=usage,
        attachment_store=attachment_store,
        responder=responder,
        transcriber=transcriber,
        # A builder taking only the request is called directly (no per-request DI);
        # anything else stays a FastAPI dependency override.
        context_builder=builder if _takes_only_the_request(builder) else None,
        builtin_auth=context is None,
        start_background=_pruning(settings, attachment_store),
    )


def _takes_only_the_request(dependency: Any) -> bool:
    """True for ``async def build(request: Request)``, which needs none of FastAPI's injection.

    FastAPI re-analyses an overridden dependency's signature on every request (about half
    a millisecond); such a builder is called directly instead. Anything else (more
    parameters, sub-dependencies, a plain ``def`` that FastAPI would run in a thread) stays
    a dependency override.
    """
    call = dependency if inspect.isroutine(dependency) else type(dependency).__call__
    if not inspect.iscoroutinefunction(call):
        return False
    try:
        parameters = list(inspect.signature(dependency).parameters.values())
    except (TypeError, ValueError):
        return False
    if len(parameters) != 1 or parameters[0].default is not inspect.Parameter.empty:
        return False
    annotation = parameters[0].annotation
    return inspect.isclass(annotation) and issubclass(annotation, Request)


def _build_server(
    server: ChatKitServer[Any] | ServerFactory | None,
    store: BackendStore,
    attachment_store: AttachmentStore[RequestContext] | None,
    responder: Any,
    transcriber: Any,
) -> ChatKitServer[Any]:
    if isinstance(server, ChatKitServer):
        return server
    if server is None or (inspect.isclass(server) and issubclass(server, BackendServer)):
        cls: type[BackendServer] = server or BackendServer
        return cls(store, attachment_store, responder=responder, transcriber=transcriber)
    built = cast(ServerFactory, server)(store, attachment_store)
    if not isinstance(built, ChatKitServer):
        raise TypeError(f"server factory returned {type(built).__name__}, not a ChatKitServer")
    return built


def _add_actions(
    server: ChatKitServer[Any], actions: Actions | Mapping[str, ActionHandler] | None
) -> None:
    """Register ``create_app(actions=...)`` on the server (a ``BackendServer``)."""
    if actions is None:
        return
    registry = Actions.of(actions)
    if not isinstance(server, BackendServer):
        raise TypeError(
            "create_app(actions=...) needs the default server or a BackendServer (a subclass "
            f"or an instance); {type(server).__name__} handles actions in its own action()"
        )
    if server.actions is not registry:
        server.actions.update(registry)


def _responder(
    settings: Settings, *, attachments: "BackendAttachmentStore | None", **options: Any
) -> Any:
    from chatkit_backend.responder import AgentResponder

    reader = attachments.read_bytes if attachments is not None else None
    saver = attachments.save_generated if attachments is not None else None  # generated images
    return AgentResponder(settings, attachment_reader=reader, image_saver=saver, **options)


def _transcriber(settings: Settings) -> Any:
    from chatkit_backend.responder import transcriber_from_settings

    return transcriber_from_settings(settings)


def _attachment_store(settings: Settings, store: BackendStore) -> "BackendAttachmentStore | None":
    if not settings.attachments:
        return None
    from chatkit_backend.attachments import attachment_store_from_settings

    return attachment_store_from_settings(settings, store)


def _pruning(
    settings: Settings, attachment_store: Any
) -> Callable[[], Callable[[], Awaitable[None]]] | None:
    """The background prune of stale uploads, started by the lifespan (None: nothing to do)."""
    if attachment_store is None:
        return None
    from chatkit_backend.attachments import start_pruning

    return lambda: start_pruning(settings, attachment_store)


def _include_optional_routers(app: FastAPI, settings: Settings, attachment_store: Any) -> None:
    if attachment_store is not None:
        from chatkit_backend.routes.attachments import build_attachments_router

        app.include_router(build_attachments_router())
    if settings.console_enabled:
        from chatkit_backend.routes.console import build_console_router

        app.include_router(build_console_router(settings))


def cors_origins(settings: Settings) -> list[str]:
    """Configured origins plus the server's own (as both localhost and 127.0.0.1)."""
    if "*" in settings.cors_origins:
        return ["*"]
    own = settings.server_origin
    extra = [
        own,
        own.replace("://localhost", "://127.0.0.1"),
        own.replace("://127.0.0.1", "://localhost"),
    ]
    return list(dict.fromkeys([*settings.cors_origins, *extra]))


def trusted_origins(settings: Settings) -> list[str]:
    """Origins whose pages may change state: the CORS origins and the public URL's origin."""
    origins = cors_origins(settings)
    if settings.public_url:
        parts = urlsplit(settings.public_url)
        origins.append(f"{parts.scheme}://{parts.netloc}")
    return origins


def _add_cors(app: FastAPI, settings: Settings) -> None:
    origins = cors_origins(settings)
    wildcard = origins == ["*"]
    app.add_middleware(
        StrictCORSMiddleware,
        allow_origins=origins,
        allow_credentials=not wildcard,
        allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=["X-Request-ID", "Retry-After"],
        max_age=600,
    )
