"""Per-user limits counted in-process: requests per minute and concurrent streams."""

import time
from pathlib import Path

import httpx
import pytest

from chatkit_backend.auth import InProcessLimiter, NoLimiter, limiter_from_settings
from chatkit_backend.context import RequestContext
from chatkit_backend.errors import RateLimitedError
from tests.auth.harness import asgi_client, error_of, settings_for, whoami_app
from tests.auth.keys import API_KEYS, KEY_A, KEY_B, bearer
from tests.support.bodies import create_body
from tests.support.live import run_app

ALICE = RequestContext(user_id="alice")
BOB = RequestContext(user_id="bob")
LIST = {"type": "threads.list", "params": {}}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_sliding_window_lets_n_requests_in_then_says_when_to_retry() -> None:
    clock = Clock()
    limiter = InProcessLimiter(3, 0, clock=clock)
    for step in range(3):
        clock.now += 10 * step
        await limiter.check_request(ALICE)  # at 1000, 1010, 1030
    with pytest.raises(RateLimitedError) as caught:
        await limiter.check_request(ALICE)
    assert caught.value.retry_after == 30  # the request at 1000 leaves the window at 1060
    assert caught.value.headers == {"Retry-After": "30"}
    assert (
        str(caught.value)
        == "rate limit exceeded: at most 3 requests per minute per user; retry in 30 s"
    )
    await limiter.check_request(BOB)  # another user has a budget of their own

    clock.now = 1060.0
    await limiter.check_request(ALICE)  # the oldest left the window
    with pytest.raises(RateLimitedError) as caught:
        await limiter.check_request(ALICE)
    assert caught.value.retry_after == 10  # 1010 leaves at 1070


async def test_refused_requests_do_not_extend_the_wait() -> None:
    clock = Clock()
    limiter = InProcessLimiter(1, 0, clock=clock)
    await limiter.check_request(ALICE)
    for _ in range(5):
        clock.now += 10
        with pytest.raises(RateLimitedError):
            await limiter.check_request(ALICE)
    clock.now = 1060.0
    await limiter.check_request(ALICE)


async def test_tenants_have_separate_budgets_for_the_same_user_id() -> None:
    limiter = InProcessLimiter(1, 0)
    await limiter.check_request(RequestContext(user_id="alice", tenant_id="acme"))
    await limiter.check_request(RequestContext(user_id="alice", tenant_id="globex"))
    await limiter.check_request(RequestContext(user_id="acme/alice"))  # no tenant: not the same key
    with pytest.raises(RateLimitedError):
        await limiter.check_request(RequestContext(user_id="alice", tenant_id="acme"))


async def test_idle_users_are_forgotten_after_a_window() -> None:
    clock = Clock()
    limiter = InProcessLimiter(5, 0, clock=clock)
    for user in range(100):
        await limiter.check_request(RequestContext(user_id=f"user-{user}"))
    clock.now += 61
    await limiter.check_request(ALICE)
    assert list(limiter._requests) == ["alice"]


async def test_stream_slots_are_taken_and_given_back() -> None:
    limiter = InProcessLimiter(0, 2)
    first = await limiter.acquire_stream(ALICE)
    second = await limiter.acquire_stream(ALICE)
    with pytest.raises(RateLimitedError) as caught:
        await limiter.acquire_stream(ALICE)
    assert str(caught.value) == (
        "too many open streams: at most 2 streams at once per user; retry when one has finished"
    )
    assert caught.value.headers == {"Retry-After": "2"}
    await limiter.acquire_stream(BOB)
    await first()
    await first()  # releasing twice frees one slot, not two
    third = await limiter.acquire_stream(ALICE)
    with pytest.raises(RateLimitedError):
        await limiter.acquire_stream(ALICE)
    await second()
    await third()
    assert limiter.open_streams(ALICE) == 0


def test_limiter_follows_the_settings(tmp_path: Path) -> None:
    assert isinstance(limiter_from_settings(settings_for(tmp_path)), NoLimiter)
    limiter = limiter_from_settings(
        settings_for(tmp_path, rate_limit_per_minute=5, max_concurrent_streams=2)
    )
    assert isinstance(limiter, InProcessLimiter)
    assert (limiter.per_minute, limiter.max_streams) == (5, 2)


async def test_over_the_limit_is_429_with_retry_after_per_user(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, auth="api-key", api_keys=API_KEYS, rate_limit_per_minute=3)
    async with asgi_client(whoami_app(settings)) as client:
        unauthenticated = [await client.post("/chatkit", json=LIST) for _ in range(4)]
        allowed = [
            await client.post("/chatkit", json=LIST, headers=bearer(KEY_A)) for _ in range(3)
        ]
        refused = await client.post("/chatkit", json=LIST, headers=bearer(KEY_A))
        other_route = await client.get("/whoami", headers=bearer(KEY_A))
        bob = await client.post("/chatkit", json=LIST, headers=bearer(KEY_B))
    assert [r.status_code for r in unauthenticated] == [401] * 4  # count against no one
    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert refused.status_code == 429
    assert error_of(refused)["code"] == "rate_limited"
    assert error_of(refused)["message"].startswith(
        "rate limit exceeded: at most 3 requests per minute per user"
    )
    assert 58 <= int(refused.headers["retry-after"]) <= 60
    assert other_route.status_code == 429  # every authenticated request counts
    assert bob.status_code == 200


CREATE = create_body("hi")


def stream_status(client: httpx.Client, key: str) -> int:
    """Open a stream, read its first event, hang up; the status it answered with."""
    with client.stream("POST", "/chatkit", json=CREATE, headers=bearer(key)) as response:
        if response.status_code == 200:
            lines = response.iter_lines()
            next(lines)
        return response.status_code


def test_second_concurrent_stream_is_429_until_the_first_ends(tmp_path: Path) -> None:
    from chatkit_backend.app import create_app

    # a slow model: every stream stays open until its client hangs up
    settings = settings_for(
        tmp_path,
        auth="api-key",
        api_keys=API_KEYS,
        max_concurrent_streams=1,
        offline_token_delay=1.0,
    )
    with run_app(create_app(settings)) as base, httpx.Client(base_url=base, timeout=30) as client:
        with client.stream("POST", "/chatkit", json=CREATE, headers=bearer(KEY_A)) as first:
            assert first.status_code == 200
            # keep the line iterator referenced: once collected, httpx closes the connection
            lines = first.iter_lines()
            next(lines)  # the stream is open
            second = client.post("/chatkit", json=CREATE, headers=bearer(KEY_A))
            bob = stream_status(client, KEY_B)
            listing = client.post("/chatkit", json=LIST, headers=bearer(KEY_A))
        # hanging up on the first stream gives its slot back
        deadline = time.monotonic() + 10
        third = stream_status(client, KEY_A)
        while third == 429 and time.monotonic() < deadline:
            time.sleep(0.05)
            third = stream_status(client, KEY_A)
    assert second.status_code == 429
    assert second.headers["retry-after"] == "2"
    assert second.json()["error"]["message"].startswith(
        "too many open streams: at most 1 stream at once"
    )
    assert bob == 200
    assert listing.status_code == 200  # JSON requests hold no stream slot
    assert third == 200
