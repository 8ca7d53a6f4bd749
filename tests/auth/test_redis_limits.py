"""Limits shared through Redis: across limiter instances, and across two ``serve`` processes."""

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from chatkit_backend.auth import limiter_from_settings
from chatkit_backend.auth.redis_limiter import RedisLimiter
from chatkit_backend.context import RequestContext
from chatkit_backend.errors import RateLimitedError
from tests.auth.conftest import REDIS_URL
from tests.auth.harness import asgi_client, error_of, settings_for, whoami_app
from tests.auth.keys import API_KEYS, KEY_A, KEY_B, bearer
from tests.support.live import free_port, run_serve
from tests.support.wait import apoll_until_accepted

pytestmark = pytest.mark.redis

ALICE = RequestContext(user_id="alice")
BOB = RequestContext(user_id="bob")


async def test_two_limiters_on_one_redis_share_the_per_minute_budget(redis_prefix: str) -> None:
    one = RedisLimiter(REDIS_URL, 3, 0, prefix=redis_prefix)
    two = RedisLimiter(REDIS_URL, 3, 0, prefix=redis_prefix)
    try:
        await one.check_request(ALICE)
        await two.check_request(ALICE)
        await one.check_request(ALICE)
        with pytest.raises(RateLimitedError) as caught:
            await two.check_request(ALICE)
        await two.check_request(BOB)
    finally:
        await one.aclose()
        await two.aclose()
    assert 59 <= caught.value.retry_after <= 60
    assert str(caught.value).startswith(
        "rate limit exceeded: at most 3 requests per minute per user"
    )


async def test_window_slides_in_redis_time(redis_prefix: str) -> None:
    limiter = RedisLimiter(REDIS_URL, 2, 0, prefix=redis_prefix, window=1.0)
    try:
        await limiter.check_request(ALICE)
        await limiter.check_request(ALICE)
        with pytest.raises(RateLimitedError) as caught:
            await limiter.check_request(ALICE)
        started = asyncio.get_running_loop().time()
        # a refused request is not logged, so retrying does not push the window back
        await apoll_until_accepted(
            lambda: limiter.check_request(ALICE), RateLimitedError, "the window slid", within=10
        )
        waited = asyncio.get_running_loop().time() - started
    finally:
        await limiter.aclose()
    assert caught.value.retry_after == 1
    assert waited > 0.5  # the first request left the 1 s window, not the refused one


async def test_stream_slots_are_shared_and_given_back(redis_prefix: str) -> None:
    one = RedisLimiter(REDIS_URL, 0, 1, prefix=redis_prefix)
    two = RedisLimiter(REDIS_URL, 0, 1, prefix=redis_prefix)
    try:
        release = await one.acquire_stream(ALICE)
        with pytest.raises(RateLimitedError) as caught:
            await two.acquire_stream(ALICE)
        bob = await two.acquire_stream(BOB)
        assert await two.open_streams(ALICE) == 1
        await release()
        again = await two.acquire_stream(ALICE)
        await again()
        await bob()
        assert await one.open_streams(ALICE) == 0
    finally:
        await one.aclose()
        await two.aclose()
    assert caught.value.headers == {"Retry-After": "2"}


async def test_open_streams_keep_their_slots_past_the_ttl(redis_prefix: str) -> None:
    holder = RedisLimiter(REDIS_URL, 0, 1, prefix=redis_prefix, slot_ttl=0.6)
    other = RedisLimiter(REDIS_URL, 0, 1, prefix=redis_prefix, slot_ttl=0.6)
    try:
        release = await holder.acquire_stream(ALICE)
        # A fixed wait on purpose: that the slot outlives its ttl *is* the behaviour under test.
        await asyncio.sleep(1.5)  # two and a half lifetimes: renewed meanwhile
        with pytest.raises(RateLimitedError):
            await other.acquire_stream(ALICE)
        await release()
    finally:
        await holder.aclose()
        await other.aclose()


async def test_slots_of_a_process_that_stopped_expire(redis_prefix: str) -> None:
    crashed = RedisLimiter(REDIS_URL, 0, 1, prefix=redis_prefix, slot_ttl=0.5)
    await crashed.acquire_stream(ALICE)
    await crashed.aclose()  # stops renewing, never releases: as if the process died
    survivor = RedisLimiter(REDIS_URL, 0, 1, prefix=redis_prefix, slot_ttl=0.5)
    try:
        with pytest.raises(RateLimitedError):
            await survivor.acquire_stream(ALICE)
        release = await apoll_until_accepted(
            lambda: survivor.acquire_stream(ALICE), RateLimitedError, "the slot expired"
        )
        await release()
    finally:
        await survivor.aclose()


async def test_keys_hold_the_prefix_and_expire(redis_prefix: str) -> None:
    limiter = RedisLimiter(REDIS_URL, 5, 0, prefix=redis_prefix)
    try:
        await limiter.check_request(RequestContext(user_id="a:b/c", tenant_id="acme"))
        key = limiter.requests_key(RequestContext(user_id="a:b/c", tenant_id="acme"))
        ttl_ms = await limiter.redis.pttl(key)
    finally:
        await limiter.aclose()
    assert key == f"{redis_prefix}limits:requests:acme/a%3Ab%2Fc"
    assert 0 < ttl_ms <= 60_000


async def test_redis_down_answers_503_not_an_unlimited_pass(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        auth="api-key",
        api_keys=API_KEYS,
        rate_limit_per_minute=5,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
    )
    assert isinstance(limiter_from_settings(settings), RedisLimiter)
    async with asgi_client(whoami_app(settings)) as client:
        response = await client.get("/whoami", headers=bearer(KEY_A))
    assert response.status_code == 503
    assert error_of(response)["code"] == "limiter_unavailable"
    assert (
        error_of(response)["message"]
        == "rate limits are unavailable: Redis did not answer; try again shortly"
    )


async def test_unlimited_settings_never_touch_redis(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with asgi_client(whoami_app(settings)) as client:
        response = await client.get("/whoami")
    assert response.status_code == 200


def test_two_serve_processes_share_one_budget(tmp_path: Path, redis_prefix: str) -> None:
    env = {
        "CHATKIT_AUTH": "api-key",
        "CHATKIT_API_KEYS": json.dumps(API_KEYS),
        "CHATKIT_DATABASE_URL": "memory://",
        "CHATKIT_DATA_DIR": str(tmp_path),
        "CHATKIT_RATE_LIMIT_PER_MINUTE": "4",
        "CHATKIT_REDIS_URL": REDIS_URL,
        "CHATKIT_REDIS_PREFIX": redis_prefix,
        "CHATKIT_LOG_LEVEL": "WARNING",
    }
    body = {"type": "threads.list", "params": {}}
    with run_serve(env) as (first, _), run_serve(env) as (second, _):
        statuses = [
            httpx.post(f"{base}/chatkit", json=body, headers=bearer(KEY_A)).status_code
            for base in [first, second, first, second, first, second]
        ]
        refused = httpx.post(f"{second}/chatkit", json=body, headers=bearer(KEY_A))
        bob = [
            httpx.post(f"{base}/chatkit", json=body, headers=bearer(KEY_B)).status_code
            for base in [second, first]
        ]
    assert statuses == [200, 200, 200, 200, 429, 429]
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 55
    assert bob == [200, 200]


async def test_readiness_covers_the_shared_limits(tmp_path: Path, redis_prefix: str) -> None:
    settings = settings_for(
        tmp_path, rate_limit_per_minute=5, redis_url=REDIS_URL, redis_prefix=redis_prefix
    )
    async with asgi_client(whoami_app(settings)) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "store": "memory", "limits": "redis"}


async def test_readiness_fails_while_redis_is_down(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path, rate_limit_per_minute=5, redis_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    async with asgi_client(whoami_app(settings)) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert error_of(response)["message"].startswith(
        "rate-limit store (CHATKIT_REDIS_URL) is not answering: ConnectionError"
    )
