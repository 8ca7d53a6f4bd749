"""Schema migrations (Alembic), shipped in the package; the Config is built in code.

``upgrade(url)``, ``current(url)`` and ``head()`` serve ``chatkit-backend db``; the store
calls the async forms on its own engine. An upgrade runs in one transaction holding the
migration lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL), so several
processes starting at once migrate once and the others find the schema at head.

New revisions go in ``versions/``, small and named for their change
(``0002_add_thread_archived_at.py``), with ``down_revision`` naming the previous one.

Alembic (about 0.2 s to import) is imported only when a migration runs: ``head()`` and
``known_revisions()`` read the revision files' ``revision``/``down_revision`` lines, and
``current_on`` reads the version table with one query, so a start on a current schema
never loads it (``tests/test_startup.py`` checks both agree with Alembic).
"""

import ast
import asyncio
import functools
import re
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from chatkit_backend.stores.engine import (
    SQLITE_BEGIN,
    EngineOptions,
    build_engine,
    parse_database_url,
    sqlite_file,
)
from chatkit_backend.stores.schema import VERSION_TABLE

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["config", "current", "current_on", "head", "upgrade", "upgrade_on"]

SCRIPT_LOCATION = Path(__file__).resolve().parent
POSTGRES_LOCK_KEY = 0x636B5F6D6967  # "ck_mig": serializes upgrades across hosts
T = TypeVar("T")


def config() -> "Config":
    """The Alembic configuration, built in code (no alembic.ini)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    return cfg


_ASSIGNMENT = re.compile(r"^(?P<name>revision|down_revision)\s*(?::[^=]*)?=\s*(?P<value>.+)$", re.M)


@functools.cache
def _revision_graph() -> dict[str, tuple[str, ...]]:
    """Each shipped revision with the revisions it follows, read from ``versions/*.py``."""
    graph: dict[str, tuple[str, ...]] = {}
    for path in sorted((SCRIPT_LOCATION / "versions").glob("*.py")):
        values = {
            m["name"]: ast.literal_eval(m["value"]) for m in _ASSIGNMENT.finditer(path.read_text())
        }
        if "revision" not in values:
            continue
        down = values.get("down_revision")
        graph[str(values["revision"])] = (
            () if down is None else (str(down),) if isinstance(down, str) else tuple(down)
        )
    return graph


def head() -> str:
    """The revision this version of the package needs (Alembic's ``get_current_head``)."""
    graph = _revision_graph()
    followed = {down for downs in graph.values() for down in downs}
    heads = sorted(set(graph) - followed)
    if len(heads) != 1:  # pragma: no cover - the package ships one line of revisions
        raise RuntimeError(f"expected one head revision, found {heads or 'none'}")
    return heads[0]


def known_revisions() -> set[str]:
    """Every revision this package ships."""
    return set(_revision_graph())


def _upgrade_sync(connection: Connection, target: str) -> None:
    from alembic import command

    cfg = config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, target)


def _current_sync(connection: Connection) -> str | None:
    """The version table's revision, None when the table is absent or empty (as Alembic's
    ``MigrationContext.get_current_revision``, without importing Alembic)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:
        raise RuntimeError(f"version table {VERSION_TABLE} holds several revisions: {rows}")
    return str(rows[0]) if rows else None


async def upgrade_on(engine: AsyncEngine, target: str = "head") -> None:
    """Migrate the database behind ``engine`` to ``target``, holding the migration lock.

    A database already at the head revision is left alone after one read of its version
    table: no lock is taken and Alembic is not imported (the common start).
    """
    if target in ("head", head()) and await current_on(engine) == head():
        return
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
    engine = build_engine(parse_database_url(url), EngineOptions(), pooled=False)
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
