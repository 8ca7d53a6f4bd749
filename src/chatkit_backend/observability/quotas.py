"""Daily token quotas: ``CHATKIT_TOKEN_QUOTA_PER_DAY`` per user, and
``CHATKIT_TENANT_TOKEN_QUOTA_PER_DAY`` per tenant (for requests that carry one).

A day is a UTC calendar day: every count starts at 0 at midnight UTC, which is when a
refused user may come back (``Retry-After``). Before a request that would start a reply,
``Quotas.check`` refuses a user whose tokens of the day have reached the quota (429
``quota_exceeded``); a reply under way is never cut, so the reply that crosses the quota
ends normally and the next one is refused. When a reply ends, its input plus output
tokens are added (``Quotas.add``, from ``observability/usage.py``).

Counts live in Redis when ``CHATKIT_REDIS_URL`` is set (shared by every process and
host), else in this process. Either way a count the counter does not hold yet (the first
request of the day, a restarted process, a flushed Redis) starts from the day's usage
in the store, so a restart does not hand out a fresh quota.

Redis outages are met as the rate limiter meets them (``auth/redis_limiter.py``): a
command that fails on a broken connection runs once more on a fresh one; if that fails
too, a check answers 503 ``limiter_unavailable`` (never a pass), and an addition is
logged and dropped.
"""

import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

from chatkit_backend.auth.limits import LimiterUnavailableError, limit_key
from chatkit_backend.errors import QuotaExceededError
from chatkit_backend.logs import log_cause_once
from chatkit_backend.settings import Settings
from chatkit_backend.stores.base import BackendStore, owner_of

logger = logging.getLogger("chatkit_backend.quotas")

T = TypeVar("T")
KEY_TTL_SECONDS = 2 * 86_400
"""How long Redis keeps a day's count (past the day, for a look the morning after)."""
UNAVAILABLE_MESSAGE = "token quotas are unavailable: Redis did not answer; try again shortly"


def utc_now() -> datetime:
    return datetime.now(UTC)


class QuotaCounter(Protocol):
    """Token counts per key and day, in this process or in Redis."""

    async def get(self, keys: list[str], day: str) -> list[int | None]:
        """Each key's count of ``day`` (None: not counted yet)."""
        ...

    async def start(self, key: str, day: str, tokens: int) -> None:
        """Set a count that does not exist yet to ``tokens`` (a no-op when it exists)."""
        ...

    async def add(self, keys: list[str], day: str, tokens: int) -> None: ...

    async def ping(self) -> str | None: ...

    async def aclose(self) -> None: ...


class InProcessQuotaCounter:
    """Counts in this process (each worker of ``--workers N`` counts on its own); only
    today's and yesterday's are kept."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}

    async def get(self, keys: list[str], day: str) -> list[int | None]:
        return [self._counts.get((day, key)) for key in keys]

    async def start(self, key: str, day: str, tokens: int) -> None:
        self._counts.setdefault((day, key), tokens)

    async def add(self, keys: list[str], day: str, tokens: int) -> None:
        if any(counted != day for counted, _ in self._counts):
            self._forget_before(day)
        for key in keys:
            self._counts[(day, key)] = self._counts.get((day, key), 0) + tokens

    def _forget_before(self, day: str) -> None:
        for counted in [entry for entry in self._counts if entry[0] < day]:
            del self._counts[counted]

    async def ping(self) -> str | None:
        return None

    async def aclose(self) -> None:
        return None


class RedisQuotaCounter:
    """Counts in Redis, keyed ``<prefix>quota:<day>:<key>``, kept two days."""

    def __init__(self, url: str, *, prefix: str = "chatkit:", timeout: float = 2.0) -> None:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        from chatkit_backend.auth.redis_limiter import REDIS_FAILURES

        self.prefix = prefix
        self.failures = REDIS_FAILURES
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # one retry, ours (``_call``), so a check is bounded
        )

    def _key(self, key: str, day: str) -> str:
        return f"{self.prefix}quota:{day}:{key}"

    async def get(self, keys: list[str], day: str) -> list[int | None]:
        names = [self._key(key, day) for key in keys]
        values = await self._call(lambda: self.redis.mget(names))
        return [None if value is None else int(value) for value in values]

    async def start(self, key: str, day: str, tokens: int) -> None:
        name = self._key(key, day)
        await self._call(lambda: self.redis.set(name, tokens, nx=True, ex=KEY_TTL_SECONDS))

    async def add(self, keys: list[str], day: str, tokens: int) -> None:
        async def increment() -> None:
            async with self.redis.pipeline(transaction=True) as pipe:
                for key in keys:
                    name = self._key(key, day)
                    pipe.incrby(name, tokens)
                    pipe.expire(name, KEY_TTL_SECONDS)
                await pipe.execute()

        await self._call(increment)

    async def ping(self) -> str | None:
        await self.redis.ping()
        return "redis"

    async def _call(self, command: Callable[[], Awaitable[T]]) -> T:
        """Run a command; on a broken connection, once more on a fresh one; then 503."""
        try:
            return await command()
        except self.failures as exc:
            logger.debug(
                "Redis failed (%s: %s); retrying on a fresh connection", type(exc).__name__, exc
            )
        with contextlib.suppress(*self.failures):
            await self.redis.connection_pool.disconnect(inuse_connections=False)
        try:
            return await command()
        except self.failures as exc:
            log_cause_once(logger, f"token quotas: Redis failed: {type(exc).__name__}: {exc}", exc)
            raise LimiterUnavailableError(UNAVAILABLE_MESSAGE) from exc

    async def aclose(self) -> None:
        await self.redis.aclose()


def next_reset(now: datetime) -> datetime:
    """The next midnight UTC after ``now``: when every day's count starts again."""
    today = now.astimezone(UTC).date()
    return datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)


class Quotas:
    """The settings' quotas over a ``QuotaCounter``; see the module docstring.

    ``clock`` (a UTC ``datetime``) decides the day and the reset; ``store`` gives the
    day's usage to a count that starts (None: counts start at 0).
    """

    def __init__(
        self,
        counter: QuotaCounter,
        *,
        per_user: int = 0,
        per_tenant: int = 0,
        store: BackendStore | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.counter = counter
        self.per_user = per_user
        self.per_tenant = per_tenant
        self.store = store
        self.clock = clock

    def _limits(self, context: Any) -> list[tuple[str, int, str]]:
        """``(counter key, quota, whose)`` for each quota that applies to ``context``."""
        limits = []
        if self.per_user:
            limits.append((f"user:{limit_key(context)}", self.per_user, "user"))
        tenant = getattr(context, "tenant_id", None)
        if self.per_tenant and isinstance(tenant, str) and tenant:
            limits.append((f"tenant:{quote(tenant, safe='')}", self.per_tenant, "tenant"))
        return limits

    async def used(self, context: Any) -> dict[str, int]:
        """Today's tokens of each quota that applies to ``context`` (``user``, ``tenant``)."""
        limits = self._limits(context)
        counts = await self._counts(context, limits, self._day(self.clock()))
        return {whose: count for (_, _, whose), count in zip(limits, counts, strict=True)}

    async def check(self, context: Any) -> None:
        """Raise ``QuotaExceededError`` (429, ``Retry-After`` at the next midnight UTC) when
        a quota of ``context`` is used up today; ``LimiterUnavailableError`` (503) when the
        counts cannot be read."""
        limits = self._limits(context)
        if not limits:
            return
        now = self.clock()
        counts = await self._counts(context, limits, self._day(now))
        for (_, quota, whose), count in zip(limits, counts, strict=True):
            if count >= quota:
                raise self._exceeded(whose, count, quota, now)

    async def add(self, context: Any, tokens: int) -> None:
        """Count ``tokens`` (a finished reply's input plus output) against today's quotas."""
        limits = self._limits(context)
        if not limits or tokens <= 0:
            return
        day = self._day(self.clock())
        await self._counts(context, limits, day)  # a count that starts takes the store's first
        await self.counter.add([key for key, _, _ in limits], day, tokens)

    async def _counts(
        self, context: Any, limits: list[tuple[str, int, str]], day: str
    ) -> list[int]:
        keys = [key for key, _, _ in limits]
        counts = await self.counter.get(keys, day)
        found: list[int] = []
        for (key, _, whose), count in zip(limits, counts, strict=True):
            if count is None:
                count = await self._stored(context, whose, day)
                await self.counter.start(key, day, count)
            found.append(count)
        return found

    async def _stored(self, context: Any, whose: str, day: str) -> int:
        """The day's tokens in the store (0 without a store that records usage)."""
        if self.store is None:
            return 0
        try:
            if whose == "tenant":
                return await self.store.usage_tokens(day, tenant_id=context.tenant_id)
            return await self.store.usage_tokens(day, user_id=owner_of(context))
        except NotImplementedError:
            return 0

    @staticmethod
    def _day(now: datetime) -> str:
        return now.astimezone(UTC).date().isoformat()

    @staticmethod
    def _exceeded(whose: str, used: int, quota: int, now: datetime) -> QuotaExceededError:
        reset = next_reset(now)
        retry_after = max(1, math.ceil((reset - now).total_seconds()))
        owner = "your" if whose == "user" else "your tenant's"
        return QuotaExceededError(
            f"{owner} daily token quota is used up: {used} of {quota} tokens today (UTC); "
            f"it resets at {reset:%Y-%m-%dT%H:%M:%SZ}, in {retry_after} s",
            retry_after=retry_after,
        )

    async def ping(self) -> str | None:
        """Raise if the shared counts (Redis) do not answer; ``"redis"`` when they do,
        None when counts live in this process."""
        return await self.counter.ping()

    async def aclose(self) -> None:
        await self.counter.aclose()


def quotas_from_settings(settings: Settings, store: Any = None) -> Quotas | None:
    """The settings' quotas (None when both are 0), in Redis when ``CHATKIT_REDIS_URL``
    is set; ``store`` (a ``BackendStore``) starts each day's counts."""
    if not settings.token_quota_per_day and not settings.tenant_token_quota_per_day:
        return None
    counter: QuotaCounter
    if settings.redis_url:
        counter = RedisQuotaCounter(settings.redis_url, prefix=settings.redis_prefix)
    else:
        counter = InProcessQuotaCounter()
    return Quotas(
        counter,
        per_user=settings.token_quota_per_day,
        per_tenant=settings.tenant_token_quota_per_day,
        store=store if isinstance(store, BackendStore) else None,
    )
