"""Schema migrations (Alembic), shipped in the package; the Config is built in code.

``upgrade(url)``, ``current(url)`` and ``head()`` serve ``chatkit-backend db``; the store
calls the async forms on its own engine. An upgrade runs in one transaction holding the
migration lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL), so several
processes starting at once migrate once and the others find the schema at head.

New revisions go in ``versions/``, small and named for their change
(``0002_add_thread_archived_at.py``), with ``down_revision`` naming the previous one.
"""

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from chatkit_backend.stores.engine import (
    SQLITE_BEGIN,
    EngineOptions,
    build_engine,
    parse_database_url,
    sqlite_file,
)
from chatkit_backend.stores.schema import VERSION_TABLE

__all__ = ["config", "current", "current_on", "head", "upgrade", "upgrade_on"]

SCRIPT_LOCATION = Path(__file__).resolve().parent
POSTGRES_LOCK_KEY = 0x636B5F6D6967  # "ck_mig": serializes upgrades across hosts
T = TypeVar("T")


def config() -> Config:
    """The Alembic configuration, built in code (no alembic.ini)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    return cfg


def head() -> str:
    """The revision this version of the package needs."""
    revision = ScriptDirectory.from_config(config()).get_current_head()
    if revision is None:  # pragma: no cover - the package ships revisions
        raise RuntimeError("no migration revisions found")
    return revision


def known_revisions() -> set[str]:
    """Every revision this package ships."""
    return {script.revision for script in ScriptDirectory.from_config(config()).walk_revisions()}


def _upgrade_sync(connection: Connection, target: str) -> None:
    cfg = config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, target)


def _current_sync(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


async def upgrade_on(engine: AsyncEngine, target: str = "head") -> None:
    """Migrate the database behind ``engine`` to ``target``, holding the migration lock."""
    async with engine.connect() as connection:
        connection = await connection.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        async with connection.begin():
            if connection.dialect.name == "postgresql":
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": POSTGRES_LOCK_KEY}
                )
            await connection.run_sync(_upgrade_sync, target)


async def current_on(engine: AsyncEngine) -> str | None:
    """The revision the database behind ``engine`` is at; None for an empty database."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current_sync)


async def _with_engine(url: str, action: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    engine = build_engine(parse_database_url(url), EngineOptions(pool_size=1, max_overflow=0))
    try:
        return await action(engine)
    finally:
        await engine.dispose()


def upgrade(url: str) -> None:
    """Migrate the database at ``url`` to head (creating the tables on an empty database)."""
    path = sqlite_file(parse_database_url(url))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    _run(_with_engine(url, upgrade_on))


def current(url: str) -> str | None:
    """The revision the database at ``url`` is at; None for an empty (or absent) database."""
    path = sqlite_file(parse_database_url(url))
    if path is not None and not path.exists():
        return None
    return _run(_with_engine(url, current_on))


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run to completion; from inside an event loop, on a fresh loop in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
