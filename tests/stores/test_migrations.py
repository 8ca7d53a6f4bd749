"""Alembic migrations: shipped in the package, matching the schema, safe to run at once."""

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from chatkit_backend.stores import SchemaOutOfDateError, SQLStore, migrations, open_store
from chatkit_backend.stores.schema import VERSION_TABLE, metadata
from tests.stores.conftest import ALICE
from tests.stores.samples import thread
from tests.support.live import clean_env

HEAD = migrations.head()


def _schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
    )
    return list(compare_metadata(context, metadata))


async def _differences(url: str) -> list[object]:
    store = open_store(url)
    assert isinstance(store, SQLStore)
    try:
        async with store.engine.connect() as conn:
            return await conn.run_sync(_schema_differences)
    finally:
        await store.close()


def test_the_package_ships_its_migration_environment() -> None:
    folder = migrations.SCRIPT_LOCATION
    assert (folder / "env.py").is_file()
    assert (folder / "script.py.mako").is_file()
    shipped = sorted(p.name for p in (folder / "versions").glob("*.py"))
    assert {"0001_create_tables.py", "0003_add_thread_leases.py"} <= set(shipped)
    assert all(name[:4] in migrations.known_revisions() for name in shipped)
    assert not list(folder.glob("*.ini"))
    assert migrations.head() == HEAD


def test_upgrade_creates_the_schema_and_current_reports_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/new/chat.db"
    assert migrations.current(url) is None
    migrations.upgrade(url)
    assert migrations.current(url) == migrations.head()
    migrations.upgrade(url)  # again: nothing to do
    assert migrations.current(url) == migrations.head()
    assert asyncio.run(_differences(url)) == []


@pytest.mark.postgres
def test_postgresql_schema_matches_the_table_definitions(fresh_postgres_url: str) -> None:
    assert migrations.current(fresh_postgres_url) is None
    migrations.upgrade(fresh_postgres_url)
    assert migrations.current(fresh_postgres_url) == HEAD
    assert asyncio.run(_differences(fresh_postgres_url)) == []


def _with_password(url: str) -> str:
    return make_url(url).set(password="s3cret").render_as_string(hide_password=False)


@pytest.mark.postgres
async def test_postgresql_refuses_an_empty_schema_naming_the_fix(fresh_postgres_url: str) -> None:
    url = _with_password(fresh_postgres_url)  # trust auth ignores it; it must not be shown
    store = open_store(url)
    with pytest.raises(SchemaOutOfDateError) as caught:
        await store.open()
    await store.close()
    shown = make_url(url).render_as_string(hide_password=True)
    assert "s3cret" not in caught.value.message
    assert caught.value.status == 503
    assert caught.value.message == (
        f"database schema is at revision none (empty database), this version needs {HEAD}: "
        f"run `chatkit-backend db upgrade --database-url {shown}`"
    )


@pytest.mark.postgres
async def test_postgresql_opens_once_upgraded(fresh_postgres_url: str) -> None:
    await asyncio.to_thread(migrations.upgrade, fresh_postgres_url)
    store = open_store(fresh_postgres_url)
    try:
        await store.open()
        await store.save_thread(thread(), ALICE)
        assert (await store.load_thread("thr_1", ALICE)).id == "thr_1"
    finally:
        await store.close()


@pytest.mark.postgres
async def test_postgresql_upgrades_on_open_when_told_to(fresh_postgres_url: str) -> None:
    store = open_store(fresh_postgres_url, auto_upgrade=True)
    try:
        await store.open()
        assert isinstance(store, SQLStore)
        assert await store.schema_revision() == HEAD
    finally:
        await store.close()


async def test_a_schema_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/chat.db"
    await asyncio.to_thread(migrations.upgrade, url)
    store = open_store(url, auto_upgrade=False)
    assert isinstance(store, SQLStore)
    async with store.engine.begin() as conn:
        await conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '0099'"))
    with pytest.raises(SchemaOutOfDateError) as caught:
        await store.open()
    await store.close()
    assert caught.value.message == (
        "database schema is at revision 0099, which this version does not know (a newer "
        f"chatkit-backend migrated it); this version needs {HEAD}: run the newer version, or "
        "restore a backup taken before it migrated"
    )


async def test_sqlite_without_auto_upgrade_refuses_an_empty_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/chat.db"
    store = open_store(url, auto_upgrade=False)
    with pytest.raises(
        SchemaOutOfDateError, match=r"run `chatkit-backend db upgrade --database-url sqlite:///"
    ):
        await store.open()
    await store.close()


UPGRADE_SCRIPT = (
    "import sys; from chatkit_backend.stores import migrations; migrations.upgrade(sys.argv[1])"
)


def _upgrade_at_once(url: str, processes: int = 2) -> list[subprocess.CompletedProcess[str]]:
    running = [
        subprocess.Popen(
            [sys.executable, "-c", UPGRADE_SCRIPT, url],
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    results = []
    for process in running:
        out, err = process.communicate(timeout=90)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


def test_processes_upgrading_one_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/chat.db"
    results = _upgrade_at_once(url)
    assert [r.returncode for r in results] == [0, 0], [r.stderr[-2000:] for r in results]
    assert migrations.current(url) == HEAD


@pytest.mark.postgres
def test_processes_upgrading_one_postgresql_database_at_once_all_succeed(
    fresh_postgres_url: str,
) -> None:
    results = _upgrade_at_once(fresh_postgres_url)
    assert [r.returncode for r in results] == [0, 0], [r.stderr[-2000:] for r in results]
    assert migrations.current(fresh_postgres_url) == HEAD


async def test_upgrade_and_current_work_from_inside_an_event_loop(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/chat.db"
    migrations.upgrade(url)  # runs on its own loop in a worker thread
    assert migrations.current(url) == HEAD
