"""Picking a store by URL or settings; construction is cheap and does no I/O."""

import secrets
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from chatkit_backend.settings import Settings
from chatkit_backend.stores import (
    DatabaseURLError,
    MemoryStore,
    SQLStore,
    StoreUnavailableError,
    open_store,
    store_from_settings,
)
from tests.stores.conftest import ALICE
from tests.stores.samples import thread


def test_memory_url_opens_a_memory_store() -> None:
    store = open_store("memory://")
    assert isinstance(store, MemoryStore)
    assert store.kind == "memory"


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///data/chat.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///data/chat.db", "sqlite+aiosqlite"),
        ("postgresql://u:p@db.example:5432/chat", "postgresql+asyncpg"),
        ("postgres://u:p@db.example/chat", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u:p@db.example/chat", "postgresql+asyncpg"),
    ],
)
def test_urls_without_a_driver_mean_the_async_driver(url: str, driver: str) -> None:
    store = open_store(url)
    assert isinstance(store, SQLStore)
    assert store.url.drivername == driver
    assert store.kind == ("sqlite" if driver.startswith("sqlite") else "postgresql")


def test_auto_upgrade_defaults_to_on_for_sqlite_and_off_for_postgresql() -> None:
    sqlite = open_store("sqlite:///x.db")
    postgres = open_store("postgresql://db.example/chat")
    assert isinstance(sqlite, SQLStore) and sqlite.auto_upgrade is True
    assert isinstance(postgres, SQLStore) and postgres.auto_upgrade is False
    forced = open_store("postgresql://db.example/chat", auto_upgrade=True)
    assert isinstance(forced, SQLStore) and forced.auto_upgrade is True


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "mysql://u@h/db",
            "unsupported database URL scheme 'mysql'; use memory://, sqlite:///path.db "
            "(sqlite+aiosqlite:///path.db) or postgresql://user:password@host:5432/db "
            "(postgresql+asyncpg://...)",
        ),
        (
            "postgresql+psycopg2://u@h/db",
            "the 'psycopg2' driver is not supported for postgresql; this backend uses async drivers: "
            "memory://, sqlite:///path.db (sqlite+aiosqlite:///path.db) or "
            "postgresql://user:password@host:5432/db (postgresql+asyncpg://...)",
        ),
        (
            "sqlite:///:memory:",
            "an in-memory SQLite database is not supported (each connection would get its own); "
            "use memory:// for an in-memory store or sqlite:///path.db for a file",
        ),
        (
            "sqlite://",
            "an in-memory SQLite database is not supported (each connection would get its own); "
            "use memory:// for an in-memory store or sqlite:///path.db for a file",
        ),
        (
            "not a url",
            "cannot parse the database URL; use memory://, sqlite:///path.db (sqlite+aiosqlite:///path.db) or postgresql://user:password@host:5432/db (postgresql+asyncpg://...)",
        ),
    ],
)
def test_unusable_urls_are_refused_with_the_accepted_forms(url: str, message: str) -> None:
    with pytest.raises(DatabaseURLError) as caught:
        open_store(url)
    assert caught.value.message == message
    assert isinstance(caught.value, ValueError)


def test_constructing_a_store_does_no_io(tmp_path: Path) -> None:
    folder = tmp_path / "not" / "yet"
    open_store(f"sqlite:///{folder}/chat.db")
    assert not folder.exists()
    started = time.perf_counter()
    open_store("postgresql://u:secret@127.0.0.1:1/nowhere")  # nothing listens on port 1
    assert time.perf_counter() - started < 0.5


async def test_sqlite_store_creates_its_folder_and_tables_on_first_use(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "chat.db"
    store = open_store(f"sqlite:///{path}")
    try:
        await store.save_thread(thread(), ALICE)  # no explicit open(): connects lazily
        assert path.exists()
        assert (await store.load_thread("thr_1", ALICE)).id == "thr_1"
    finally:
        await store.close()


async def test_unreachable_postgresql_is_unavailable_and_hides_the_password() -> None:
    store = open_store("postgresql://u:secret@127.0.0.1:1/nowhere", connect_timeout=2)
    with pytest.raises(StoreUnavailableError) as caught:
        await store.open()
    assert caught.value.status == 503
    assert caught.value.message == (
        "cannot reach the database at postgresql://u:***@127.0.0.1:1/nowhere: ConnectionRefusedError"
    )
    await store.close()


@pytest.mark.postgres
async def test_a_postgresql_database_that_does_not_exist_is_unavailable_not_a_crash(
    postgres_url: str,
) -> None:
    """The server answers, but refuses the connection: a 503 naming why, as for a server
    that does not answer (the CLI prints it as one ``error:`` line, not a traceback)."""
    missing = make_url(postgres_url).set(database=f"chatkit_missing_{secrets.token_hex(4)}")
    store = open_store(missing.render_as_string(hide_password=False), connect_timeout=5)
    with pytest.raises(StoreUnavailableError) as caught:
        await store.open()
    assert caught.value.status == 503
    assert caught.value.message == (
        f"cannot use the database at {missing.set(drivername='postgresql')}: "
        f'database "{missing.database}" does not exist'
    )
    await store.close()


def test_store_from_settings_defaults_to_sqlite_in_the_data_folder(tmp_path: Path) -> None:
    store = store_from_settings(Settings(data_dir=tmp_path / "data"))
    assert isinstance(store, SQLStore)
    assert store.kind == "sqlite"
    assert store.url.database == f"{tmp_path}/data/chatkit.db"


def test_store_from_settings_passes_the_pool_settings() -> None:
    settings = Settings(
        database_url="postgresql://u@db.example/chat",
        db_pool_size=3,
        db_max_overflow=1,
        db_pool_timeout=2.5,
        db_connect_timeout=4.0,
        db_busy_timeout_ms=1234,
        db_statement_timeout=3.5,
        db_auto_upgrade=True,
    )
    store = store_from_settings(settings)
    assert isinstance(store, SQLStore)
    assert (store.options.pool_size, store.options.max_overflow) == (3, 1)
    assert (store.options.pool_timeout, store.options.connect_timeout) == (2.5, 4.0)
    assert store.options.busy_timeout_ms == 1234
    assert store.options.statement_timeout == 3.5
    assert store.auto_upgrade is True


async def test_threads_survive_a_restart_with_the_default_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = store_from_settings(settings)
    await first.open()
    await first.save_thread(thread(title="kept"), ALICE)
    await first.close()
    second = store_from_settings(settings)
    try:
        assert (await second.load_thread("thr_1", ALICE)).title == "kept"
    finally:
        await second.close()
