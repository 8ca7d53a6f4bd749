"""Limits shared by every process that uses the same Redis (``CHATKIT_REDIS_URL``).

Each check is one Lua script, so it is atomic across processes, and every script reads
Redis' own clock (``TIME``), so the hosts' clocks need not agree.

- Requests: a sorted set per user of accepted requests' times; a request is let in while
  fewer than ``per_minute`` lie within the window (a sliding window, as in-process).
- Streams: a sorted set per user of open stream slots scored by their expiry. A slot
  lives ``slot_ttl`` seconds and its process renews it while the stream is open, so a
  process that crashes frees its slots within ``slot_ttl`` seconds.

Outages. A check that fails on a broken connection (any error a client library raises
for one: redis-py's ``ConnectionError`` and ``TimeoutError``, ``OSError``, the
``RuntimeError`` of a closed transport, an ``EOFError``) drops the pool's idle
connections and runs once more on a fresh one; if that fails too, the request gets 503
``limiter_unavailable`` (``LimiterUnavailableError``), never a 500 and never a pass.
Each attempt waits at most ``timeout`` seconds (to connect, then for the answer). Giving
a slot back or renewing it never raises: a slot Redis did not hear about expires within
``slot_ttl`` seconds by itself.
"""

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from chatkit_backend.auth.limits import (
    WINDOW_SECONDS,
    LimiterUnavailableError,
    Release,
    limit_key,
    noop_release,
    release_once,
    too_many_requests,
    too_many_streams,
)
from chatkit_backend.logs import log_cause_once

logger = logging.getLogger("chatkit_backend.auth")

UNAVAILABLE_MESSAGE = "rate limits are unavailable: Redis did not answer; try again shortly"
SLOT_TTL_SECONDS = 60.0
REDIS_FAILURES: tuple[type[BaseException], ...] = (
    RedisError,  # ConnectionError, TimeoutError, ResponseError, ...
    OSError,  # ConnectionResetError, TimeoutError (asyncio's too), ...
    RuntimeError,  # "unable to perform operation on <TCPTransport closed=True>"
    EOFError,  # asyncio.IncompleteReadError
)
"""What a Redis call can raise when Redis or the network fails."""
T = TypeVar("T")

_NOW_MS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

# KEYS[1]: the user's request log. ARGV: limit, window (ms), a unique member.
# Returns {1, 0} when let in, {0, milliseconds until a request leaves the window} when not.
REQUEST_SCRIPT = (
    _NOW_MS
    + """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + window - now}
"""
)

# KEYS[1]: the user's open slots. ARGV: limit, slot ttl (ms), the slot id. Returns 1 or 0.
ACQUIRE_SCRIPT = (
    _NOW_MS
    + """
local limit = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
"""
)

# KEYS[1]: the user's open slots. ARGV: slot ttl (ms), the slot id. Renews a slot still held.
RENEW_SCRIPT = (
    _NOW_MS
    + """
local ttl = tonumber(ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ttl)
  return 1
end
return 0
"""
)


class RedisLimiter:
    """Sliding-window request limits and stream slots in Redis, keyed ``<prefix>limits:...``."""

    def __init__(
        self,
        url: str,
        per_minute: int,
        max_streams: int,
        *,
        prefix: str = "chatkit:",
        window: float = WINDOW_SECONDS,
        slot_ttl: float = SLOT_TTL_SECONDS,
        timeout: float = 2.0,
    ) -> None:
        self.per_minute = per_minute
        self.max_streams = max_streams
        self.prefix = prefix
        self.window_ms = max(1, round(window * 1000))
        self.slot_ttl_ms = max(1, round(slot_ttl * 1000))
        self.redis = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # one retry, ours (below), so a check is bounded
        )
        self._request = self.redis.register_script(REQUEST_SCRIPT)
        self._acquire = self.redis.register_script(ACQUIRE_SCRIPT)
        self._renew = self.redis.register_script(RENEW_SCRIPT)
        self._renewals: set[asyncio.Task[None]] = set()

    async def ping(self) -> str | None:
        """Raise if Redis does not answer (used by /readyz); ``"redis"`` when it does."""
        await self.redis.ping()
        return "redis"

    def requests_key(self, context: Any) -> str:
        return f"{self.prefix}limits:requests:{limit_key(context)}"

    def streams_key(self, context: Any) -> str:
        return f"{self.prefix}limits:streams:{limit_key(context)}"

    async def check_request(self, context: Any) -> None:
        if not self.per_minute:
            return
        key, member = self.requests_key(context), uuid.uuid4().hex
        allowed, wait_ms = await self._call(
            lambda: self._request(keys=[key], args=[self.per_minute, self.window_ms, member])
        )
        if not int(allowed):
            retry_after = max(1, math.ceil(int(wait_ms) / 1000))
            raise too_many_requests(self.per_minute, retry_after)

    async def acquire_stream(self, context: Any) -> Release:
        if not self.max_streams:
            return noop_release
        key, slot = self.streams_key(context), uuid.uuid4().hex
        taken = await self._call(
            lambda: self._acquire(keys=[key], args=[self.max_streams, self.slot_ttl_ms, slot])
        )
        if not int(taken):
            raise too_many_streams(self.max_streams)
        renewal = asyncio.create_task(self._keep(key, slot))
        self._renewals.add(renewal)
        renewal.add_done_callback(self._renewals.discard)

        async def free() -> None:
            renewal.cancel()
            try:
                await self.redis.zrem(key, slot)
            except REDIS_FAILURES as exc:
                await self._drop_idle_connections()
                logger.warning(
                    "could not free a stream slot (it expires by itself): %s: %s",
                    type(exc).__name__,
                    exc,
                )

        return release_once(free)

    async def _keep(self, key: str, slot: str) -> None:
        """Renew a slot every third of its lifetime while its stream is open."""
        while True:
            await asyncio.sleep(self.slot_ttl_ms / 3000)
            try:
                if not int(await self._renew(keys=[key], args=[self.slot_ttl_ms, slot])):
                    return  # the slot expired meanwhile (Redis was away longer than its ttl)
            except REDIS_FAILURES as exc:
                await self._drop_idle_connections()
                logger.warning("could not renew a stream slot: %s: %s", type(exc).__name__, exc)

    async def _call(self, command: Callable[[], Awaitable[T]]) -> T:
        """Run a command; on a broken connection, once more on a fresh one; then 503."""
        try:
            return await command()
        except REDIS_FAILURES as exc:
            logger.debug(
                "Redis failed (%s: %s); retrying on a fresh connection", type(exc).__name__, exc
            )
        await self._drop_idle_connections()
        try:
            return await command()
        except REDIS_FAILURES as exc:
            log_cause_once(logger, f"rate limiter: Redis failed: {type(exc).__name__}: {exc}", exc)
            raise LimiterUnavailableError(UNAVAILABLE_MESSAGE) from exc

    async def _drop_idle_connections(self) -> None:
        """Close the pool's idle connections (the broken one went back there), so the next
        command connects afresh; connections in use by other tasks are left alone."""
        with contextlib.suppress(*REDIS_FAILURES):
            await self.redis.connection_pool.disconnect(inuse_connections=False)

    async def open_streams(self, context: Any) -> int:
        """Slots held now by this user, across every process."""
        key = self.streams_key(context)
        clock = await self.redis.time()
        now_ms = clock[0] * 1000 + clock[1] // 1000
        return int(await self.redis.zcount(key, now_ms + 1, "+inf"))

    async def aclose(self) -> None:
        """Stop renewing (open slots then expire within their ttl) and close the connections."""
        for task in list(self._renewals):
            task.cancel()
        for task in list(self._renewals):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.redis.aclose()
