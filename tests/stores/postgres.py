"""Fresh PostgreSQL databases for tests: created with a random name, dropped after.

The server is ``CHATKIT_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``).
Outside CI a missing server skips the test with the reason; under ``CI=true`` it fails it.
"""

import asyncio
import os
import secrets
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn, TypeVar

import asyncpg
import pytest
from sqlalchemy.engine import make_url

T = TypeVar("T")
ADMIN_URL = os.environ.get("CHATKIT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_missing(reason: object) -> NoReturn:
    """Fail under CI, skip elsewhere, naming the server and the reason."""
    message = f"PostgreSQL at {make_url(ADMIN_URL).render_as_string(hide_password=True)} is not available: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: PostgreSQL is required)")
    pytest.skip(message)


def _url_for(name: str) -> str:
    return (
        make_url(ADMIN_URL)
        .set(drivername="postgresql", database=name)
        .render_as_string(hide_password=False)
    )


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on its own loop in a thread: callers may already be inside a loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def create_database() -> str:
    """Create an empty database and return its URL (``postgresql://...``, no driver)."""
    name = f"chatkit_test_{secrets.token_hex(6)}"
    try:
        _run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        postgres_missing(f"{type(exc).__name__}: {exc}")
    return _url_for(name)


def drop_database(url: str) -> None:
    name = make_url(url).database
    _run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
