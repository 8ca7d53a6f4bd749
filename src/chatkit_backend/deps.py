"""FastAPI dependencies as ``Annotated`` aliases, so routes read as plain signatures.

Routes read what the app runs on one way: ``ServicesDep`` (``app.state.services``, built
by ``create_app``). ``get_context`` calls the configured context builder (an auth mode,
or the user's own builder taking only the request); a builder with parameters of its own
is installed as a dependency override of ``get_context`` instead. Every dependency here
is ``async``: FastAPI runs a plain ``def`` dependency in a worker thread, a thread hop
per request.
"""

from typing import Annotated

from fastapi import Depends, Request

from chatkit_backend.context import RequestContext
from chatkit_backend.errors import UnauthorizedError
from chatkit_backend.services import Services


def services_of(request: Request) -> Services:
    """What the app runs on (``app.state.services``)."""
    services = getattr(request.app.state, "services", None)
    if not isinstance(services, Services):
        raise RuntimeError("no services on this app: build it with chatkit_backend.create_app()")
    return services


async def get_services(request: Request) -> Services:
    return services_of(request)


async def get_context(request: Request) -> RequestContext:
    """The request context, from the builder ``create_app`` installed."""
    builder = services_of(request).context_builder
    if builder is None:
        raise RuntimeError("no context builder: build the app with create_app()")
    context: RequestContext = await builder(request)
    return context


CREDENTIAL_HEADERS = ("authorization", "x-api-key")


async def get_optional_context(request: Request) -> RequestContext | None:
    """The request context, or None when the request carries no credentials.

    With the built-in auth modes, credentials that are sent must be valid: a bad key is
    a 401, never a silent fallback. A context builder of the user's own decides itself:
    None when it raises ``UnauthorizedError``.
    """
    services = services_of(request)
    if services.context_builder is None:
        return None  # a builder installed as a dependency override cannot be called here
    if services.builtin_auth:
        sent = [*CREDENTIAL_HEADERS, services.settings.user_header.lower()]
        if not any(name in request.headers for name in sent):
            return None
        return await get_context(request)
    try:
        return await get_context(request)
    except UnauthorizedError:
        return None


ServicesDep = Annotated[Services, Depends(get_services)]
ContextDep = Annotated[RequestContext, Depends(get_context)]
OptionalContextDep = Annotated[RequestContext | None, Depends(get_optional_context)]
