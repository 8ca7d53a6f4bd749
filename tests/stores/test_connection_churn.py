"""No connection churn: 64 concurrent requests over HTTP open at most pool size + overflow
database connections over the whole run, and reuse them."""

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatkit_backend import Settings, create_app
from chatkit_backend.stores import SQLStore, migrations, store_from_settings
from tests.support.bodies import create_body, user_input
from tests.support.live import run_app, sse_events

CONCURRENCY = 64
ROUNDS = 4


async def _run_load(base_url: str) -> int:
    """ROUNDS waves of CONCURRENCY concurrent requests (creates, messages, lists); returns
    how many were answered 200."""
    # A connection per request: no race with the server closing an idle keep-alive one.
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as http:
        threads = []  # one per concurrent message: two replies on one thread are a 409
        for _ in range(CONCURRENCY // 4):
            created = await http.post("/chatkit", json=create_body("first"))
            threads.append(
                next(
                    e["thread"]["id"]
                    for e in sse_events(created.text)
                    if e["type"] == "thread.created"
                )
            )

        def body(n: int) -> dict[str, Any]:
            thread_id = threads[n // 4]
            return [
                create_body("hello"),
                {
                    "type": "threads.add_user_message",
                    "params": {"thread_id": thread_id, "input": user_input("more")},
                },
                {"type": "threads.list", "params": {"limit": 20}},
                {"type": "items.list", "params": {"thread_id": thread_id, "limit": 20}},
            ][n % 4]

        ok = 0
        for _ in range(ROUNDS):
            answers = await asyncio.gather(
                *(http.post("/chatkit", json=body(n)) for n in range(CONCURRENCY))
            )
            assert {a.status_code for a in answers} == {200}, [a.text[:200] for a in answers]
            ok += len(answers)
        return ok


def _serve_load(settings: Settings) -> tuple[SQLStore, int]:
    store = store_from_settings(settings)
    assert isinstance(store, SQLStore)
    with run_app(create_app(settings, store=store)) as base_url:
        answered = asyncio.run(_run_load(base_url))
    return store, answered


def test_sqlite_opens_at_most_its_pool_under_64_concurrent_requests(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, offline_token_delay=0)
    store, answered = _serve_load(settings)
    assert answered == CONCURRENCY * ROUNDS
    # One connection on the event loop, one writer, and readers only when a read had to
    # wait (never here): far below the pool.
    assert 1 <= store.connections_opened <= settings.db_pool_size + settings.db_max_overflow
    assert store.connections_opened <= max(3, settings.db_pool_size)


@pytest.mark.postgres
def test_postgresql_opens_at_most_its_pool_under_64_concurrent_requests(
    fresh_postgres_url: str,
) -> None:
    migrations.upgrade(fresh_postgres_url)
    settings = Settings(database_url=fresh_postgres_url, offline_token_delay=0)
    store, answered = _serve_load(settings)
    assert answered == CONCURRENCY * ROUNDS
    limit = settings.db_pool_size + settings.db_max_overflow
    assert 1 <= store.connections_opened <= limit
