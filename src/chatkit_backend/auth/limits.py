"""Per-user limits: requests per minute and concurrent streams.

Both count per user, and per tenant when the context has one (``alice`` of tenant ``a``
and ``alice`` of tenant ``b`` have separate budgets). ``InProcessLimiter`` counts inside
one process; ``RedisLimiter`` (``CHATKIT_REDIS_URL``) shares the counts across processes
and machines.
"""

from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import quote

from chatkit_backend.errors import RateLimitedError, ServiceUnavailableError
from chatkit_backend.settings import Settings

Release = Callable[[], Awaitable[None]]
WINDOW_SECONDS = 60.0
STREAM_RETRY_AFTER = 2


class Limiter(Protocol):
    async def check_request(self, context: Any) -> None:
        """Raise ``RateLimitedError`` when the user is over the per-minute budget."""

    async def acquire_stream(self, context: Any) -> Release:
        """Take a stream slot (or raise ``RateLimitedError``); call the result to give it back."""
        ...

    async def ping(self) -> str | None:
        """Check the shared store the counts live in (raise if it does not answer) and name
        it (``"redis"``); None when the counts live in this process."""
        ...

    async def aclose(self) -> None: ...


class NoLimiter:
    """No limits (both settings are 0)."""

    async def check_request(self, context: Any) -> None:
        return None

    async def acquire_stream(self, context: Any) -> Release:
        return noop_release

    async def ping(self) -> str | None:
        return None

    async def aclose(self) -> None:
        return None


async def noop_release() -> None:
    return None


def limit_key(context: Any) -> str:
    """``alice`` or ``tenant-a/alice``, each part percent-encoded so no two callers share a key."""
    user = quote(str(context.user_id), safe="")
    tenant = getattr(context, "tenant_id", None)
    return f"{quote(str(tenant), safe='')}/{user}" if tenant else user


class LimiterUnavailableError(ServiceUnavailableError):
    """The shared limits (Redis) did not answer, even on a fresh connection (503): the
    request is refused rather than let through unlimited."""

    code = "limiter_unavailable"


def too_many_requests(limit: int, retry_after: int) -> RateLimitedError:
    """The 429 for a user over ``limit`` requests per minute."""
    return RateLimitedError(
        f"rate limit exceeded: at most {limit} requests per minute per user; retry in {retry_after} s",
        retry_after=retry_after,
    )


def too_many_streams(limit: int) -> RateLimitedError:
    """The 429 for a user who already holds ``limit`` open streams."""
    noun = "stream" if limit == 1 else "streams"
    return RateLimitedError(
        f"too many open streams: at most {limit} {noun} at once per user; retry when one has finished",
        retry_after=STREAM_RETRY_AFTER,
    )


def release_once(free: Release) -> Release:
    """A release that runs ``free`` the first time it is called and does nothing after."""
    released = False

    async def release() -> None:
        nonlocal released
        if not released:
            released = True
            await free()

    return release


def limiter_from_settings(settings: Settings) -> Limiter:
    """No limiter when both limits are 0; Redis when ``CHATKIT_REDIS_URL`` is set; else in-process."""
    per_minute, streams = settings.rate_limit_per_minute, settings.max_concurrent_streams
    if not per_minute and not streams:
        return NoLimiter()
    if settings.redis_url:
        from chatkit_backend.auth.redis_limiter import RedisLimiter

        return RedisLimiter(settings.redis_url, per_minute, streams, prefix=settings.redis_prefix)
    from chatkit_backend.auth.memory_limiter import InProcessLimiter

    return InProcessLimiter(per_minute, streams)
