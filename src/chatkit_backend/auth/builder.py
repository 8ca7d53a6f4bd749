"""The default context builder (a FastAPI dependency) for the configured auth mode."""

from collections.abc import Awaitable, Callable

from fastapi import Request

from chatkit_backend.context import RequestContext
from chatkit_backend.settings import Settings

LOCAL_USER = "local"


def locale_of(request: Request) -> str | None:
    """The first language of ``Accept-Language`` (e.g. ``fr-CA``), if any."""
    header = request.headers.get("accept-language", "")
    first = header.split(",", 1)[0].split(";", 1)[0].strip()
    return first if first and first != "*" and len(first) <= 35 else None


def base_url_of(request: Request, settings: Settings) -> str:
    return (settings.public_url or str(request.base_url)).rstrip("/")


def context_builder(settings: Settings) -> Callable[[Request], Awaitable[RequestContext]]:
    """Return the dependency that authenticates a request and builds its context."""

    async def build_context(request: Request) -> RequestContext:
        return RequestContext(
            user_id=LOCAL_USER,
            request_id=getattr(request.state, "request_id", ""),
            locale=locale_of(request),
            base_url=base_url_of(request, settings),
            request=request,
        )

    return build_context
