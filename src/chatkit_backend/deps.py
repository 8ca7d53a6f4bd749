"""FastAPI dependencies as ``Annotated`` aliases, so routes read as plain signatures.

``get_context`` calls the configured context builder (an auth mode, or the user's own
dependency) that ``create_app`` put in ``app.state.context_builder``; a builder with
parameters of its own is installed as a dependency override instead. Every dependency
here is ``async``: FastAPI runs a plain ``def`` dependency in a worker thread, a thread
hop per request.
"""

import inspect
from typing import Annotated, Any

from chatkit.server import ChatKitServer
from fastapi import Depends, Request

from chatkit_backend.context import RequestContext
from chatkit_backend.errors import UnauthorizedError
from chatkit_backend.server.dispatch import Dispatcher
from chatkit_backend.settings import Settings
from chatkit_backend.stores.base import BackendStore


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_store(request: Request) -> BackendStore:
    return request.app.state.store  # type: ignore[no-any-return]


async def get_server(request: Request) -> ChatKitServer[Any]:
    return request.app.state.server  # type: ignore[no-any-return]


async def get_dispatcher(request: Request) -> Dispatcher:
    return request.app.state.dispatcher  # type: ignore[no-any-return]


async def get_context(request: Request) -> RequestContext:
    """The request context, from the builder ``create_app`` installed."""
    builder = getattr(request.app.state, "context_builder", None)
    if builder is None:
        raise RuntimeError("no context builder: build the app with create_app()")
    context = builder(request)
    if inspect.isawaitable(context):
        context = await context
    return context  # type: ignore[no-any-return]


CREDENTIAL_HEADERS = ("authorization", "x-api-key")


async def get_optional_context(request: Request) -> RequestContext | None:
    """The request context, or None when the request carries no credentials.

    With the built-in auth modes, credentials that are sent must be valid: a bad key is
    a 401, never a silent fallback. A context builder of the user's own decides itself:
    None when it raises ``UnauthorizedError``.
    """
    state = request.app.state
    if getattr(state, "context_builder", None) is None:
        return None  # a builder installed as a dependency override cannot be called here
    if getattr(state, "builtin_auth", False):
        settings: Settings = state.settings
        sent = [*CREDENTIAL_HEADERS, settings.user_header.lower()]
        if not any(name in request.headers for name in sent):
            return None
        return await get_context(request)
    try:
        return await get_context(request)
    except UnauthorizedError:
        return None


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[BackendStore, Depends(get_store)]
ServerDep = Annotated[ChatKitServer[Any], Depends(get_server)]
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]
ContextDep = Annotated[RequestContext, Depends(get_context)]
OptionalContextDep = Annotated[RequestContext | None, Depends(get_optional_context)]
