"""Fixtures shared by every test folder."""

from collections.abc import Iterator

import pytest

from tests.stores.postgres import create_database, drop_database


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session, dropped at the end.

    The URL has no driver (``postgresql://postgres@127.0.0.1:5432/chatkit_test_<hex>``);
    ``open_store`` and ``CHATKIT_DATABASE_URL`` take it as asyncpg. It is not migrated:
    open a store with ``auto_upgrade=True`` (or run ``migrations.upgrade``) first. Tests
    share it for the session, so give rows unique ids or users. Without a server the
    test is skipped, or failed under ``CI=true``.
    """
    url = create_database()
    yield url
    drop_database(url)
