"""Fixtures shared by every test folder.

Tests never read the developer's shell or ``.env``: for the whole session the variables
``tests/support/environment.py`` lists (``CHATKIT_*``, ``OPENAI_*``, ``OTEL_*``, ``AWS_*``,
proxies, ...) are removed, and each test runs in an empty temporary folder, so neither
``Settings()`` nor a subprocess finds a ``./.env``. Subprocesses get
``tests.support.environment.subprocess_env(...)``.
"""

import os
from collections.abc import Iterator

import pytest

from tests.stores.postgres import create_database, drop_database
from tests.support.environment import FIXED, is_cleared


@pytest.fixture(scope="session", autouse=True)
def _hermetic_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The developer's variables gone and an empty working folder, before any other fixture."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if is_cleared(name)]:
            patch.delenv(name)
        for name, value in FIXED.items():
            patch.setenv(name, value)
        patch.chdir(tmp_path_factory.mktemp("session-cwd"))
        yield


@pytest.fixture(autouse=True)
def _hermetic_test(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Each test in an empty working folder of its own; its changes to ``os.environ`` undone."""
    before = dict(os.environ)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("cwd"))
        yield
    if dict(os.environ) != before:
        os.environ.clear()
        os.environ.update(before)


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
