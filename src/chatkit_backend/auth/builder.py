"""The default context builder (a FastAPI dependency): authenticate, count, build the context."""

import logging
from collections.abc import Awaitable, Callable

from fastapi import Request

from chatkit_backend.auth.identity import Authenticator
from chatkit_backend.auth.limits import Limiter
from chatkit_backend.auth.modes import authenticator_from_settings
from chatkit_backend.context import RequestContext
from chatkit_backend.errors import UnauthorizedError
from chatkit_backend.settings import Settings

logger = logging.getLogger("chatkit_backend.auth")


def locale_of(request: Request) -> str | None:
    """The first language of ``Accept-Language`` (e.g. ``fr-CA``), if any."""
    header = request.headers.get("accept-language", "")
    first = header.split(",", 1)[0].split(";", 1)[0].strip()
    return first if first and first != "*" and len(first) <= 35 else None


def base_url_of(request: Request, settings: Settings) -> str:
    return (settings.public_url or str(request.base_url)).rstrip("/")


async def check_rate_limit(request: Request, context: RequestContext) -> None:
    """Count the request against the user's per-minute budget (429 past it).

    The default builder calls it; a custom context dependency should call it too.
    """
    from chatkit_backend.deps import services_of  # deps builds on auth: imported late

    limiter: Limiter = services_of(request).limiter
    await limiter.check_request(context)


def context_builder(
    settings: Settings, authenticator: Authenticator | None = None
) -> Callable[[Request], Awaitable[RequestContext]]:
    """Return the dependency that authenticates a request and builds its context.

    ``authenticator`` defaults to the mode of ``CHATKIT_AUTH``; its keys are loaded now,
    so a misconfiguration fails here (``SettingsError``), not on the first request.
    """
    auth = authenticator or authenticator_from_settings(settings)

    async def build_context(request: Request) -> RequestContext:
        try:
            identity = await auth.authenticate(request)
        except UnauthorizedError as exc:
            client = request.client.host if request.client else "-"
            logger.info(
                "401 for %s %s from %s: %s", request.method, request.url.path, client, exc.message
            )
            raise
        context = RequestContext(
            user_id=identity.user_id,
            tenant_id=identity.tenant_id,
            request_id=getattr(request.state, "request_id", ""),
            locale=locale_of(request),
            claims=identity.claims,
            base_url=base_url_of(request, settings),
            request=request,
        )
        await check_rate_limit(request, context)
        return context

    return build_context
