"""Fixtures for the transfer tests: fresh PostgreSQL databases, one per test."""

from collections.abc import Iterator

import pytest

from tests.stores.postgres import create_database, drop_database


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """An empty, unmigrated PostgreSQL database for one test (``postgresql://...``)."""
    url = create_database()
    yield url
    drop_database(url)
