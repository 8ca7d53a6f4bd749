"""``db copy``: every row of one SQL store into another, through the schema's tables.

Generic over ``chatkit_backend.stores.schema.metadata``: each table is copied in
foreign-key order (parents first), so a table added by a later revision is copied too
(but for tables marked ``info={"transient": True}``, which hold no data: reply leases).
The source is read inside one transaction (a snapshot: PostgreSQL ``REPEATABLE READ``,
SQLite's WAL read transaction), so a server writing to it meanwhile cannot leave an
item without its thread in the target; what it writes after the snapshot is not copied
(run the copy again, or stop the server first).

Rows are matched by primary key, and a row already in the target is left as it is,
so a rerun copies only what is missing. A table whose key is an auto-numbered integer
(feedback) is matched on its other columns instead, and the target numbers the rows it
receives. At the end every source row is looked up in the target again: a difference
raises ``CopyVerificationError``.
"""

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Row, Table, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatkit_backend.stores import codec, migrations
from chatkit_backend.stores.base import as_utc
from chatkit_backend.stores.engine import (
    SQLITE_BEGIN,
    EngineOptions,
    build_engine,
    display_url,
    parse_database_url,
    sqlite_file,
    store_kind,
)
from chatkit_backend.stores.errors import SchemaOutOfDateError
from chatkit_backend.stores.schema import attachments, metadata
from chatkit_backend.transfer.errors import CopyVerificationError, TransferUsageError
from chatkit_backend.transfer.files import OwnedFile
from chatkit_backend.transfer.progress import NoSteps, Steps

BATCH = 500
FileSink = Callable[[list[OwnedFile]], Awaitable[None]]


@dataclass
class TableCopy:
    """One table's figures: rows in the source, copied, already in the target, and after."""

    name: str
    source: int = 0
    copied: int = 0
    present: int = 0
    target: int = 0


@dataclass
class CopyReport:
    """What ``copy_database`` did, table by table."""

    source: str
    target: str
    tables: list[TableCopy] = field(default_factory=list)
    target_revision_before: str | None = None

    @property
    def copied(self) -> int:
        return sum(table.copied for table in self.tables)


def _engine(url: URL) -> AsyncEngine:
    # One connection each; generous statement time: a count over a big table takes a while.
    return build_engine(url, EngineOptions(pool_size=1, max_overflow=0, statement_timeout=600.0))


def check_urls(source_url: str, target_url: str) -> tuple[URL, URL]:
    """Both URLs parsed; ``TransferUsageError`` for memory://, the same database twice, or
    a SQLite source file that does not exist."""
    for flag, url in (("--from", source_url), ("--to", target_url)):
        if store_kind(url) == "memory":
            raise TransferUsageError(
                f"{flag}: memory:// keeps nothing between processes, so there is nothing to "
                "copy from or to; use a SQLite file or PostgreSQL"
            )
    source, target = parse_database_url(source_url), parse_database_url(target_url)
    if _same_database(source, target):
        raise TransferUsageError(
            f"--from and --to name the same database ({display_url(source)}): nothing to copy"
        )
    source_path = sqlite_file(source)
    if source_path is not None and not source_path.is_file():
        raise TransferUsageError(f"--from: there is no database at {display_url(source)}")
    return source, target


def _same_database(a: URL, b: URL) -> bool:
    file_a, file_b = sqlite_file(a), sqlite_file(b)
    if file_a is not None and file_b is not None:
        return file_a.resolve() == file_b.resolve()
    return a.render_as_string(hide_password=False) == b.render_as_string(hide_password=False)


async def copy_database(
    source_url: str,
    target_url: str,
    *,
    steps: Steps | None = None,
    files: FileSink | None = None,
    batch: int = BATCH,
) -> CopyReport:
    """Copy every row of the store at ``source_url`` into the one at ``target_url``.

    The source must be at this version's schema (``SchemaOutOfDateError`` otherwise, it
    is never migrated); the target is migrated first (created when empty). ``files``
    receives the ``(owner, attachment id, MIME type)`` of every attachment row, in batches, after
    the rows are copied. Raises ``TransferUsageError`` for memory:// or the same
    database twice, ``CopyVerificationError`` when the target lacks rows at the end.
    """
    source, target = check_urls(source_url, target_url)
    steps = steps or NoSteps()
    report = CopyReport(display_url(source), display_url(target))
    source_engine, target_engine = _engine(source), _engine(target)
    try:
        await _check_source_schema(source_engine, report.source)
        target_path = sqlite_file(target)
        if target_path is not None:
            target_path.parent.mkdir(parents=True, exist_ok=True)
        report.target_revision_before = await _prepare_target(target_engine, report.target)
        async with _snapshot(source_engine) as reader:
            tables = [
                _TableCopier(table, target_engine, batch)
                for table in metadata.sorted_tables
                if not table.info.get("transient")  # reply leases: not data
            ]
            for copier in tables:
                copier.figures.source = await _count(reader, copier.table)
            steps.total(sum(copier.figures.source for copier in tables))
            for copier in tables:
                steps.describe(f"copying {copier.table.name}")
                await copier.copy(reader, steps)
                report.tables.append(copier.figures)
            if files is not None:
                steps.describe("copying attachment files")
                async for owned in _attachment_owners(reader, batch):
                    await files(owned)
            steps.describe("verifying")
            await _verify(reader, tables)
    finally:
        await source_engine.dispose()
        await target_engine.dispose()
    return report


async def _check_source_schema(engine: AsyncEngine, shown: str) -> None:
    revision = await migrations.current_on(engine)
    needed = migrations.head()
    if revision == needed:
        return
    if revision is None:
        raise SchemaOutOfDateError(f"--from: {shown} holds no chatkit-backend tables")
    raise SchemaOutOfDateError(
        f"--from: {shown} is at schema revision {revision}, this version copies revision "
        f"{needed}: run `chatkit-backend db upgrade --database-url {shown}` first (with the "
        "version that wrote it, if it is newer)"
    )


async def _prepare_target(engine: AsyncEngine, shown: str) -> str | None:
    """Migrate the target to this version's schema; its revision before (None when empty)."""
    revision = await migrations.current_on(engine)
    if revision is not None and revision not in migrations.known_revisions():
        raise SchemaOutOfDateError(
            f"--to: {shown} is at schema revision {revision}, which this version does not "
            "know (a newer chatkit-backend migrated it): copy with that version"
        )
    await migrations.upgrade_on(engine)
    return revision


@asynccontextmanager
async def _snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection whose reads all see one snapshot of the database."""
    async with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        else:
            await conn.execution_options(**{SQLITE_BEGIN: "DEFERRED"})
        async with conn.begin():
            yield conn


async def _count(conn: AsyncConnection, table: Table) -> int:
    return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def _attachment_owners(conn: AsyncConnection, batch: int) -> AsyncIterator[list[OwnedFile]]:
    after: str | None = None
    while True:
        query = select(attachments.c.user_id, attachments.c.id, attachments.c.data)
        query = query.order_by(attachments.c.id)
        if after is not None:
            query = query.where(attachments.c.id > after)
        rows = (await conn.execute(query.limit(batch))).all()
        if not rows:
            return
        yield [(row.user_id, row.id, codec.load_attachment(row.data).mime_type) for row in rows]
        after = rows[-1].id


def _plain(value: Any) -> Any:
    """A value comparable across databases (datetimes in UTC)."""
    return as_utc(value) if isinstance(value, datetime) else value


class _TableCopier:
    """Copies one table in batches; matches rows by key (or by content, for numbered rows)."""

    def __init__(self, table: Table, target: AsyncEngine, batch: int) -> None:
        self.table = table
        self.target = target
        self.batch = batch
        self.figures = TableCopy(table.name)
        primary = list(table.primary_key.columns)
        numbered = table.autoincrement_column
        if not primary:
            raise TransferUsageError(f"table {table.name} has no primary key: it cannot be copied")
        # Numbered rows get new numbers in the target: match them on everything else.
        self.by_content = numbered is not None and primary == [numbered]
        self.match: list[Column[Any]] = (
            [column for column in table.columns if column not in primary]
            if self.by_content
            else primary
        )
        self.written = [c for c in table.columns if not (self.by_content and c in primary)]
        fks = [fk.parent for fk in table.foreign_keys]
        # Content-matched rows are read in groups of one parent, so a group is never split.
        self.group: Column[Any] | None = fks[0] if self.by_content and fks else None
        insert = postgres_insert if target.dialect.name == "postgresql" else sqlite_insert
        self.insert = insert(table).on_conflict_do_nothing()

    def _key(self, row: Row[Any]) -> tuple[Any, ...]:
        return tuple(_plain(getattr(row, column.name)) for column in self.match)

    async def batches(self, reader: AsyncConnection) -> AsyncIterator[Sequence[Row[Any]]]:
        """The source rows, a batch at a time (a batch holds whole parent groups)."""
        if self.by_content and self.group is None:
            yield (await reader.execute(select(self.table))).all()
            return
        if self.group is not None:
            group = self.group
            after: Any = None
            while True:
                keys = select(group).distinct().order_by(group).limit(self.batch)
                if after is not None:
                    keys = keys.where(group > after)
                parents = (await reader.scalars(keys)).all()
                if not parents:
                    return
                rows = await reader.execute(
                    select(self.table).where(group.in_(parents)).order_by(*self.table.primary_key)
                )
                yield rows.all()
                after = parents[-1]
        order = list(self.table.primary_key.columns)
        last: tuple[Any, ...] | None = None
        while True:
            query = select(self.table).order_by(*order).limit(self.batch)
            if last is not None:
                query = query.where(tuple_(*order) > tuple_(*last))
            page = (await reader.execute(query)).all()
            if not page:
                return
            yield page
            last = tuple(getattr(page[-1], column.name) for column in order)

    async def _present(self, conn: AsyncConnection, rows: Sequence[Row[Any]]) -> Counter[Any]:
        """How many rows of each key of ``rows`` the target already holds."""
        if self.group is not None:
            parents = {getattr(row, self.group.name) for row in rows}
            condition: ColumnElement[bool] = self.group.in_(parents)
        elif self.by_content:
            found = (await conn.execute(select(*self.match))).all()
            return Counter(self._key(row) for row in found)
        elif len(self.match) == 1:
            condition = self.match[0].in_([self._key(row)[0] for row in rows])
        else:
            condition = tuple_(*self.match).in_([self._key(row) for row in rows])
        found = (await conn.execute(select(*self.match).where(condition))).all()
        return Counter(self._key(row) for row in found)

    def _missing(self, rows: Sequence[Row[Any]], present: Counter[Any]) -> list[dict[str, Any]]:
        """The rows the target lacks (each key as many times as the source has it more)."""
        missing: list[dict[str, Any]] = []
        for row in rows:
            key = self._key(row)
            if present[key] > 0:
                present[key] -= 1
                continue
            missing.append({column.name: getattr(row, column.name) for column in self.written})
        return missing

    async def copy(self, reader: AsyncConnection, steps: Steps) -> None:
        async for rows in self.batches(reader):
            async with self.target.connect() as conn:
                await conn.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
                async with conn.begin():
                    missing = self._missing(rows, await self._present(conn, rows))
                    if missing:
                        await conn.execute(self.insert, missing)
            self.figures.copied += len(missing)
            self.figures.present += len(rows) - len(missing)
            steps.advance(len(rows))

    async def missing_after_copy(self, reader: AsyncConnection) -> int:
        """Source rows the target still lacks."""
        missing = 0
        async with self.target.connect() as conn:
            async for rows in self.batches(reader):
                missing += len(self._missing(rows, await self._present(conn, rows)))
            self.figures.target = await _count(conn, self.table)
        return missing


async def _verify(reader: AsyncConnection, tables: list[_TableCopier]) -> None:
    problems = []
    for copier in tables:
        missing = await copier.missing_after_copy(reader)
        if missing:
            problems.append(f"{copier.table.name}: {missing} of {copier.figures.source} rows")
    if problems:
        raise CopyVerificationError(
            "after the copy the target still lacks source rows ("
            + "; ".join(problems)
            + "): another process may be deleting them; run the copy again"
        )
