"""FastAPI dependencies as ``Annotated`` aliases, so routes read as plain signatures.

``get_context`` is a placeholder: ``create_app`` overrides it with the configured
context builder (an auth mode, or the user's own dependency).
"""

from typing import Annotated, Any

from chatkit.server import ChatKitServer
from fastapi import Depends, Request

from chatkit_backend.context import RequestContext
from chatkit_backend.server.dispatch import Dispatcher
from chatkit_backend.settings import Settings
from chatkit_backend.stores.base import BackendStore


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_store(request: Request) -> BackendStore:
    return request.app.state.store  # type: ignore[no-any-return]


def get_server(request: Request) -> ChatKitServer[Any]:
    return request.app.state.server  # type: ignore[no-any-return]


def get_dispatcher(request: Request) -> Dispatcher:
    return request.app.state.dispatcher  # type: ignore[no-any-return]


async def get_context(request: Request) -> RequestContext:
    """Replaced by ``create_app``; reaching this means the app was not built by it."""
    raise RuntimeError("get_context was not overridden: build the app with create_app()")


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[BackendStore, Depends(get_store)]
ServerDep = Annotated[ChatKitServer[Any], Depends(get_server)]
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]
ContextDep = Annotated[RequestContext, Depends(get_context)]
