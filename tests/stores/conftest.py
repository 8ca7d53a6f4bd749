"""Stores under test: memory, SQLite (a real file) and PostgreSQL (the real server)."""

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text

from chatkit_backend.context import RequestContext
from chatkit_backend.stores import BackendStore, MemoryStore, SQLStore, open_store
from tests.stores.postgres import create_database, drop_database

ALICE = RequestContext(user_id="alice")
BOB = RequestContext(user_id="bob")

STORE_KINDS = ["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def contract_postgres_url() -> Iterator[str]:
    """A migrated database for the contract suite; each test starts from empty tables."""
    url = create_database()
    yield url
    drop_database(url)


async def empty_postgres_store(url: str) -> SQLStore:
    store = open_store(url, auto_upgrade=True)
    assert isinstance(store, SQLStore)
    await store.open()
    async with store.engine.begin() as conn:
        await conn.execute(
            text("TRUNCATE chatkit_feedback, chatkit_attachments, chatkit_items, chatkit_threads")
        )
    return store


async def make_store(
    kind: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> BackendStore:
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "chat.db"
        store = open_store(f"sqlite:///{path}")
        await store.open()
        return store
    return await empty_postgres_store(request.getfixturevalue("contract_postgres_url"))


@pytest.fixture(params=STORE_KINDS)
async def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BackendStore]:
    """An open, empty store of each kind."""
    opened = await make_store(request.param, request, tmp_path_factory)
    yield opened
    await opened.close()


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """An empty, unmigrated PostgreSQL database for one test."""
    url = create_database()
    yield url
    drop_database(url)
