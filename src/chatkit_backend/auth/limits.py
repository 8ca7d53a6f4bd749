"""Per-user limits: requests per minute and concurrent streams."""

from collections.abc import Awaitable, Callable
from typing import Protocol

from chatkit_backend.context import RequestContext
from chatkit_backend.settings import Settings

Release = Callable[[], Awaitable[None]]


class Limiter(Protocol):
    async def check_request(self, context: RequestContext) -> None:
        """Raise ``RateLimitedError`` when the user is over the per-minute budget."""

    async def acquire_stream(self, context: RequestContext) -> Release:
        """Take a stream slot (or raise ``RateLimitedError``); call the result to give it back."""
        ...

    async def aclose(self) -> None: ...


class NoLimiter:
    async def check_request(self, context: RequestContext) -> None:
        return None

    async def acquire_stream(self, context: RequestContext) -> Release:
        return _noop

    async def aclose(self) -> None:
        return None


async def _noop() -> None:
    return None


def limiter_from_settings(settings: Settings) -> Limiter:
    return NoLimiter()
