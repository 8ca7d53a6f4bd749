"""Daily token quotas: refused before any stream with 429 ``quota_exceeded``, reset at
midnight UTC (an injected clock, not a day's wait), per user and per tenant, shared
through Redis, and started from the store's usage after a restart."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from chatkit_backend.auth.limits import LimiterUnavailableError
from chatkit_backend.context import RequestContext
from chatkit_backend.errors import QuotaExceededError, RateLimitedError
from chatkit_backend.observability.quotas import (
    InProcessQuotaCounter,
    Quotas,
    RedisQuotaCounter,
    next_reset,
    quotas_from_settings,
)
from chatkit_backend.settings import Settings
from chatkit_backend.stores import MemoryStore
from chatkit_backend.stores.usage import UsageRecord
from tests.auth.conftest import REDIS_URL
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.observability.support import app_client, model_settings
from tests.support.bodies import create_body
from tests.support.live import free_port
from tests.support.wait import apoll

ALICE = RequestContext(user_id="alice")
BOB = RequestContext(user_id="bob")
LATE = datetime(2026, 3, 1, 23, 0, 0, tzinfo=UTC)  # an hour before the reset


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def in_process(clock: Callable[[], datetime], per_user: int = 0, per_tenant: int = 0) -> Quotas:
    return Quotas(InProcessQuotaCounter(), clock=clock, per_user=per_user, per_tenant=per_tenant)


def test_the_quota_error_is_a_rate_limit() -> None:
    assert issubclass(QuotaExceededError, RateLimitedError)
    assert (QuotaExceededError.status, QuotaExceededError.code) == (429, "quota_exceeded")


async def test_a_user_over_quota_is_refused_until_midnight_utc() -> None:
    clock = Clock(LATE)
    quotas = in_process(clock, per_user=100)
    await quotas.add(ALICE, 60)
    await quotas.check(ALICE)  # 60 of 100: a reply may start
    await quotas.add(ALICE, 50)  # the reply that crosses the quota ends normally
    with pytest.raises(QuotaExceededError) as refused:
        await quotas.check(ALICE)
    assert refused.value.retry_after == 3600
    assert refused.value.headers == {"Retry-After": "3600"}
    assert refused.value.message == (
        "your daily token quota is used up: 110 of 100 tokens today (UTC); "
        "it resets at 2026-03-02T00:00:00Z, in 3600 s"
    )
    await quotas.check(BOB)  # others keep theirs

    clock.now = LATE + timedelta(hours=1)  # midnight UTC: the reset
    await quotas.check(ALICE)
    assert await quotas.used(ALICE) == {"user": 0}


async def test_retry_after_rounds_up_to_the_reset() -> None:
    clock = Clock(datetime(2026, 3, 1, 23, 59, 59, 500_000, tzinfo=UTC))
    quotas = in_process(clock, per_user=1)
    await quotas.add(ALICE, 1)
    with pytest.raises(QuotaExceededError) as refused:
        await quotas.check(ALICE)
    assert refused.value.retry_after == 1
    assert next_reset(clock.now) == datetime(2026, 3, 2, tzinfo=UTC)


async def test_a_tenant_quota_counts_all_its_users_together() -> None:
    clock = Clock(LATE)
    quotas = in_process(clock, per_user=1000, per_tenant=100)
    acme_alice = RequestContext(user_id="alice", tenant_id="acme")
    acme_bob = RequestContext(user_id="bob", tenant_id="acme")
    other_alice = RequestContext(user_id="alice", tenant_id="globex")
    await quotas.add(acme_alice, 60)
    await quotas.add(acme_bob, 50)
    with pytest.raises(QuotaExceededError, match="your tenant's daily token quota is used up"):
        await quotas.check(acme_bob)
    await quotas.check(other_alice)  # another tenant, and alice of it is someone else
    await quotas.check(ALICE)  # no tenant: only the user's quota applies
    assert await quotas.used(acme_alice) == {"user": 60, "tenant": 110}
    assert await quotas.used(other_alice) == {"user": 0, "tenant": 0}


async def test_counts_start_from_the_days_usage_in_the_store() -> None:
    """A restarted process (a new counter) does not hand out a fresh quota."""
    store = MemoryStore()
    await store.save_usage(
        UsageRecord(
            user_id="alice",
            thread_id="thr_1",
            model="m",
            outcome="completed",
            created_at=LATE - timedelta(hours=2),
            input_tokens=90,
            output_tokens=20,
        )
    )
    quotas = Quotas(InProcessQuotaCounter(), per_user=100, store=store, clock=Clock(LATE))
    with pytest.raises(QuotaExceededError, match="110 of 100"):
        await quotas.check(ALICE)
    tomorrow = Quotas(
        InProcessQuotaCounter(), per_user=100, store=store, clock=Clock(LATE + timedelta(hours=1))
    )
    await tomorrow.check(ALICE)


def test_no_quota_settings_build_no_quotas() -> None:
    assert quotas_from_settings(Settings(database_url="memory://")) is None
    quotas = quotas_from_settings(
        Settings(database_url="memory://", token_quota_per_day=5, tenant_token_quota_per_day=50)
    )
    assert quotas is not None and (quotas.per_user, quotas.per_tenant) == (5, 50)
    assert isinstance(quotas.counter, InProcessQuotaCounter)


# -- over HTTP ------------------------------------------------------------------------------
async def test_a_request_over_quota_gets_429_before_any_stream_and_passes_after_the_reset() -> None:
    clock = Clock(LATE)
    with FakeOpenAIServer(Reply(text="a b c d e", input_tokens=10)) as fake:
        settings = model_settings(fake.url, token_quota_per_day=15)
        async with app_client(settings) as (app, client):
            services = app.state.services
            services.quotas.clock = services.usage.clock = clock
            first = await client.post("/chatkit", json=create_body("first"))
            assert first.status_code == 200  # 10 + 5 tokens: the quota is reached

            async def counted() -> bool:
                used: dict[str, int] = await services.quotas.used(RequestContext(user_id="local"))
                return used["user"] >= 15

            await apoll(counted, "the first reply's tokens counted")
            refused = await client.post("/chatkit", json=create_body("second"))
            assert refused.status_code == 429
            assert refused.headers["content-type"] == "application/json"
            assert refused.headers["retry-after"] == "3600"
            error = refused.json()["error"]
            assert error["code"] == "quota_exceeded"
            assert error["message"].startswith("your daily token quota is used up: 15 of 15")
            assert error["request_id"] == refused.headers["x-request-id"]
            assert len(fake.model_requests) == 1  # the model was never asked
            listed = await client.post("/chatkit", json={"type": "threads.list", "params": {}})
            assert len(listed.json()["data"]) == 1  # and no thread was created
            assert (await client.post("/chatkit", json=listed_body())).status_code == 200

            clock.now = LATE + timedelta(hours=1)  # midnight UTC
            again = await client.post("/chatkit", json=create_body("next day"))
            assert again.status_code == 200
            assert again.headers["content-type"].startswith("text/event-stream")
            assert len(fake.model_requests) == 2


def listed_body() -> dict[str, object]:
    """A request that starts no reply: never refused by quotas."""
    return {"type": "threads.list", "params": {"limit": 5}}


# -- in Redis -------------------------------------------------------------------------------
@pytest.mark.redis
async def test_two_processes_share_counts_through_redis(redis_prefix: str) -> None:
    clock = Clock(LATE)
    first = Quotas(RedisQuotaCounter(REDIS_URL, prefix=redis_prefix), per_user=100, clock=clock)
    second = Quotas(RedisQuotaCounter(REDIS_URL, prefix=redis_prefix), per_user=100, clock=clock)
    try:
        await first.add(ALICE, 70)
        await second.add(ALICE, 40)
        with pytest.raises(QuotaExceededError, match="110 of 100"):
            await first.check(ALICE)
        with pytest.raises(QuotaExceededError):
            await second.check(ALICE)
        await second.check(BOB)
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            key = f"{redis_prefix}quota:2026-03-01:user:alice"
            assert int(await client.get(key) or 0) == 110
            assert 0 < await client.ttl(key) <= 2 * 86_400
        finally:
            await client.aclose()
        clock.now = LATE + timedelta(hours=1)
        await first.check(ALICE)
        assert await second.ping() == "redis"
    finally:
        await first.aclose()
        await second.aclose()


async def test_redis_down_refuses_with_503_never_a_pass() -> None:
    quotas = Quotas(
        RedisQuotaCounter(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5),
        per_user=100,
        clock=Clock(LATE),
    )
    try:
        with pytest.raises(LimiterUnavailableError) as down:
            await quotas.check(ALICE)
        assert down.value.status == 503
        assert down.value.code == "limiter_unavailable"
        assert down.value.message == (
            "token quotas are unavailable: Redis did not answer; try again shortly"
        )
    finally:
        await quotas.aclose()


@pytest.mark.redis
async def test_readiness_covers_the_quotas_redis(redis_prefix: str) -> None:
    settings = Settings(
        database_url="memory://",
        token_quota_per_day=10,
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
    )
    async with app_client(settings) as (_, client):
        ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["quotas"] == "redis"

    down = Settings(
        database_url="memory://",
        token_quota_per_day=10,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
    )
    async with app_client(down) as (_, client):
        refused = await client.get("/readyz")
    assert refused.status_code == 503
    assert (
        "token quotas' store (CHATKIT_REDIS_URL) is not answering"
        in refused.json()["error"]["message"]
    )
