"""Outages answered, never hung: a TCP proxy of our own between the server and PostgreSQL
and Redis cuts the network (partition, refused, reset) under a mixed load.

Every request during a cut ends with a JSON 503 naming what is down within its bound,
never a 500 and never a hang; the server recovers within seconds of the network coming
back. The app runs in a real uvicorn on 127.0.0.1 with short timeouts (1 s each), so the
PostgreSQL bound is pool timeout + connect timeout + 1 s = 3 s.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from chatkit_backend import Settings, create_app
from chatkit_backend.stores import migrations
from tests.auth.conftest import REDIS_URL, redis_prefix  # noqa: F401 (the fixture)
from tests.support.bodies import create_body, user_input
from tests.support.live import run_app, sse_events
from tests.support.tcp_proxy import TCPProxy
from tests.support.wait import apoll

POOL_TIMEOUT = CONNECT_TIMEOUT = STATEMENT_TIMEOUT = 1.0
POSTGRES_BOUND = POOL_TIMEOUT + CONNECT_TIMEOUT + 1.0
REDIS_BOUND = 2 * 2.0 + 1.0  # two attempts (the first, one retry) of at most 2 s each, + 1 s
MARGIN = 0.5  # the HTTP round trip and a loaded machine


@dataclass
class Answer:
    operation: str
    status: int
    code: str | None
    seconds: float
    request_id: str = ""


class Records(logging.Handler):
    """Every record the app logs, kept for the assertions."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def migrated_postgres(fresh_postgres_url: str) -> str:
    migrations.upgrade(fresh_postgres_url)
    return fresh_postgres_url


def through(proxy: TCPProxy, url: str) -> str:
    return (
        make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    )


@contextlib.contextmanager
def live_app(**overrides: Any) -> Iterator[tuple[str, Records]]:
    """The app on a real uvicorn, its log records collected."""
    values: dict[str, Any] = {
        "offline_token_delay": 0,
        "db_pool_size": 2,
        "db_max_overflow": 1,
        "db_pool_timeout": POOL_TIMEOUT,
        "db_connect_timeout": CONNECT_TIMEOUT,
        "db_statement_timeout": STATEMENT_TIMEOUT,
        "log_level": "DEBUG",
    }
    settings = Settings(**{**values, **overrides})
    app = create_app(settings)
    records = Records()
    loggers = [
        logging.getLogger(name)
        for name in ("chatkit_backend", "chatkit", "asyncio", "uvicorn.error")
    ]
    with run_app(app) as base_url:
        for logger in loggers:
            logger.addHandler(records)
        try:
            yield base_url, records
        finally:
            for logger in loggers:
                logger.removeHandler(records)


@contextlib.asynccontextmanager
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    # A connection per request: no race with the server closing an idle keep-alive one.
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        yield http


async def ask(http: httpx.AsyncClient, operation: str, body: dict[str, Any]) -> Answer:
    started = time.monotonic()
    response = await http.post("/chatkit", json=body)
    seconds = time.monotonic() - started
    code = None
    if (
        response.headers.get("content-type", "").startswith("application/json")
        and response.status_code >= 400
    ):
        code = response.json()["error"]["code"]
    if response.status_code == 200 and response.headers.get("content-type", "").startswith(
        "text/event-stream"
    ):
        errors = [e for e in sse_events(response.text) if e["type"] == "error"]
        if errors:
            code = "error event"
    return Answer(
        operation, response.status_code, code, seconds, response.headers.get("x-request-id", "")
    )


async def new_thread(http: httpx.AsyncClient) -> str:
    response = await http.post("/chatkit", json=create_body("hello"))
    assert response.status_code == 200, response.text
    return str(
        next(e["thread"]["id"] for e in sse_events(response.text) if e["type"] == "thread.created")
    )


def mixed_requests(thread_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Reads and a streaming write on an existing thread (threads.create is its own test)."""
    return [
        ("threads.list", {"type": "threads.list", "params": {}}),
        ("items.list", {"type": "items.list", "params": {"thread_id": thread_id}}),
        ("threads.get_by_id", {"type": "threads.get_by_id", "params": {"thread_id": thread_id}}),
        (
            "threads.add_user_message",
            {
                "type": "threads.add_user_message",
                "params": {"thread_id": thread_id, "input": user_input("hi")},
            },
        ),
    ]


async def new_threads(http: httpx.AsyncClient, count: int = 8) -> list[str]:
    """A thread per client: two replies on one thread at once are a 409 ``thread_busy``."""
    return [await new_thread(http) for _ in range(count)]


async def load(
    http: httpx.AsyncClient, threads: list[str], clients: int, rounds: int
) -> list[Answer]:
    """``clients`` concurrent clients, each on its own thread, sending every mixed request
    ``rounds`` times."""

    async def one_client(n: int) -> list[Answer]:
        requests = mixed_requests(threads[n % len(threads)])
        answers = []
        for round_ in range(rounds):
            operation, body = requests[(n + round_) % len(requests)]
            answers.append(await ask(http, operation, body))
        return answers

    results = await asyncio.gather(*(one_client(n) for n in range(clients)))
    return [answer for answers in results for answer in answers]


async def recovered(http: httpx.AsyncClient, thread_id: str) -> float:
    """Seconds until every mixed request answers 200 again."""
    started = time.monotonic()

    async def all_ok() -> bool:
        answers = [await ask(http, op, body) for op, body in mixed_requests(thread_id)]
        return all(a.status == 200 and a.code is None for a in answers)

    await apoll(all_ok, "the server recovered", within=10)
    return time.monotonic() - started


# -- PostgreSQL --------------------------------------------------------------------------
@pytest.mark.postgres
async def test_a_postgresql_partition_is_a_503_within_the_bound_and_recovers(
    migrated_postgres: str,
) -> None:
    postgres = make_url(migrated_postgres)
    with (
        TCPProxy(postgres.port or 5432) as proxy,
        live_app(database_url=through(proxy, migrated_postgres)) as (base_url, _),
    ):
        async with client(base_url) as http:
            threads = await new_threads(http)
            assert {a.status for a in await load(http, threads, clients=8, rounds=2)} == {200}

            proxy.set_mode("blackhole")
            answers = await load(http, threads, clients=8, rounds=3)
            proxy.set_mode("pass")
            assert {(a.status, a.code) for a in answers} == {(503, "store_unavailable")}
            slowest = max(a.seconds for a in answers)
            assert slowest <= POSTGRES_BOUND + MARGIN, slowest

            assert await recovered(http, threads[0]) < 5
            # Connections that hung were discarded, not pooled: everything works after.
            assert {a.status for a in await load(http, threads, clients=8, rounds=2)} == {200}


@pytest.mark.postgres
async def test_postgresql_refusing_or_resetting_connections(migrated_postgres: str) -> None:
    postgres = make_url(migrated_postgres)
    with (
        TCPProxy(postgres.port or 5432) as proxy,
        live_app(database_url=through(proxy, migrated_postgres)) as (base_url, _),
    ):
        async with client(base_url) as http:
            threads = await new_threads(http)
            await load(http, threads, clients=4, rounds=2)  # the pool holds connections

            # A restart (or a failover) resets the pooled connections: the calls run
            # again on fresh ones, so no request fails.
            proxy.set_mode("reset")
            proxy.set_mode("pass")
            assert {a.status for a in await load(http, threads, clients=4, rounds=2)} == {200}

            with proxy.mode_for_a_while("refuse"):
                answers = await load(http, threads, clients=4, rounds=2)
            assert {(a.status, a.code) for a in answers} == {(503, "store_unavailable")}
            assert max(a.seconds for a in answers) <= POSTGRES_BOUND + MARGIN
            assert await recovered(http, threads[0]) < 5


@pytest.mark.postgres
async def test_threads_create_during_a_partition_is_a_503_before_the_stream(
    migrated_postgres: str,
) -> None:
    postgres = make_url(migrated_postgres)
    with (
        TCPProxy(postgres.port or 5432) as proxy,
        live_app(database_url=through(proxy, migrated_postgres)) as (base_url, _),
    ):
        async with client(base_url) as http:
            await new_thread(http)
            with proxy.mode_for_a_while("blackhole"):
                answers = await asyncio.gather(
                    *(ask(http, "threads.create", create_body()) for _ in range(4))
                )
            assert max(a.seconds for a in answers) <= POSTGRES_BOUND + MARGIN
            assert {(a.status, a.code) for a in answers} == {(503, "store_unavailable")}


@pytest.mark.postgres
async def test_an_outage_logs_a_line_per_request_and_a_traceback_per_cause(
    migrated_postgres: str,
) -> None:
    postgres = make_url(migrated_postgres)
    with (
        TCPProxy(postgres.port or 5432) as proxy,
        live_app(database_url=through(proxy, migrated_postgres), log_level="INFO") as (
            base_url,
            records,
        ),
    ):
        async with client(base_url) as http:
            threads = await new_threads(http)
            with proxy.mode_for_a_while("refuse"):
                answers = await load(http, threads, clients=8, rounds=3)
                answers += await asyncio.gather(
                    *(ask(http, "threads.create", create_body()) for _ in range(8))
                )
            await recovered(http, threads[0])
    failed = [a for a in answers if a.status != 200 or a.code is not None]
    assert len(failed) == len(answers)
    # One line at WARNING (or above) per failed request, carrying its request id ...
    logged = {getattr(r, "request_id", "") for r in records.records if r.levelno >= logging.WARNING}
    unlogged = [a for a in failed if a.request_id not in logged]
    assert unlogged == [], f"{len(unlogged)} of {len(failed)} failed requests not logged"
    # ... and a traceback once per distinct cause, not once per request.
    tracebacks = [r for r in records.records if r.exc_info and r.levelno >= logging.INFO]
    assert len(tracebacks) <= 3, [r.getMessage() for r in tracebacks]


# -- Redis -------------------------------------------------------------------------------
@contextlib.contextmanager
def redis_app(proxy: TCPProxy, **overrides: Any) -> Iterator[tuple[str, Records]]:
    redis = make_url(REDIS_URL.replace("redis://", "postgresql://"))  # host, port and db
    url = f"redis://127.0.0.1:{proxy.port}/{redis.database or 0}"
    with live_app(
        database_url="memory://",
        redis_url=url,
        redis_prefix=f"chatkit-test:{uuid.uuid4().hex}:",
        rate_limit_per_minute=100_000,
        max_concurrent_streams=1_000,
        **overrides,
    ) as running:
        yield running


def redis_port() -> int:
    return make_url(REDIS_URL.replace("redis://", "postgresql://")).port or 6379


@pytest.mark.redis
@pytest.mark.usefixtures("redis_prefix")  # skips (fails under CI) without a Redis server
async def test_a_redis_reset_is_retried_on_a_fresh_connection() -> None:
    with TCPProxy(redis_port()) as proxy, redis_app(proxy) as (base_url, records):
        async with client(base_url) as http:
            threads = await new_threads(http)
            assert {a.status for a in await load(http, threads, clients=8, rounds=2)} == {200}
            for _ in range(3):  # the connections die under the pool's feet, again and again
                proxy.set_mode("reset")
                proxy.set_mode("pass")
                answers = await load(http, threads, clients=8, rounds=2)
                assert {(a.status, a.code) for a in answers} == {(200, None)}
    unhandled = [r for r in records.records if r.levelno >= logging.ERROR]
    assert unhandled == [], [r.getMessage() for r in unhandled]


@pytest.mark.redis
@pytest.mark.usefixtures("redis_prefix")
async def test_redis_down_or_partitioned_is_a_503_never_a_500() -> None:
    with TCPProxy(redis_port()) as proxy, redis_app(proxy) as (base_url, records):
        async with client(base_url) as http:
            threads = await new_threads(http)
            for mode, bound in (("reset", 1.0), ("refuse", 1.0), ("blackhole", REDIS_BOUND)):
                with proxy.mode_for_a_while(mode):  # type: ignore[arg-type]
                    answers = await load(http, threads, clients=4, rounds=1)
                    answers += [await ask(http, "threads.create", create_body())]
                assert {(a.status, a.code) for a in answers} == {(503, "limiter_unavailable")}, mode
                assert max(a.seconds for a in answers) <= bound + MARGIN, (mode, answers)
                assert await recovered(http, threads[0]) < 5
    unhandled = [r for r in records.records if r.levelno >= logging.ERROR]
    assert unhandled == [], [r.getMessage() for r in unhandled]


@pytest.mark.redis
@pytest.mark.usefixtures("redis_prefix")
async def test_giving_a_stream_slot_back_while_redis_is_away_logs_no_error() -> None:
    with (
        TCPProxy(redis_port()) as proxy,
        redis_app(proxy, offline_token_delay=0.08) as (
            base_url,
            records,
        ),
    ):
        async with client(base_url) as http, contextlib.AsyncExitStack() as streams:
            lines = []
            for _ in range(4):  # four open streams, each holding a slot in Redis
                response = await streams.enter_async_context(
                    http.stream("POST", "/chatkit", json=create_body("tell me more"))
                )
                assert response.status_code == 200
                reader = response.aiter_lines()
                assert (await anext(reader)).startswith("data: ")  # the stream has started
                lines.append(reader)
            proxy.set_mode("reset")  # Redis goes away while they are open
            for reader in lines:  # the streams end and give their slots back: that fails
                async for _ in reader:
                    pass

            def freed() -> list[logging.LogRecord]:
                return [
                    r for r in records.records if "could not free a stream slot" in r.getMessage()
                ]

            await apoll(lambda: asyncio.sleep(0, result=len(freed()) == 4), "four slots given back")
            proxy.set_mode("pass")
    assert all(r.levelno == logging.WARNING and not r.exc_info for r in freed())
    errors = [r for r in records.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
