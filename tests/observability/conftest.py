"""Fixtures of the observability tests: stores of every kind (the usage table emptied),
Redis with a key prefix of the test's own, and a client for an app in this process."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from chatkit_backend.stores import BackendStore, SQLStore
from tests.auth.conftest import redis_prefix
from tests.stores.conftest import STORE_KINDS, contract_postgres_url, make_store

__all__ = ["contract_postgres_url", "redis_prefix"]


@pytest.fixture(params=STORE_KINDS)
async def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BackendStore]:
    """An open, empty store of each kind, its usage table empty too."""
    opened = await make_store(request.param, request, tmp_path_factory)
    if isinstance(opened, SQLStore) and opened.kind == "postgresql":
        async with opened.engine.begin() as conn:
            await conn.execute(text("TRUNCATE chatkit_usage"))
    yield opened
    await opened.close()
