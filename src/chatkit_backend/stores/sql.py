"""``SQLStore``: one store for SQLite (aiosqlite) and PostgreSQL (asyncpg).

The semantics are in ``chatkit_backend.stores.base``. The SQL is SQLAlchemy Core,
compiled once per dialect (``statements``); calls run it on a small pool of raw driver
connections (``connections``): one hand-off to SQLite's connection thread, or one round
trip to PostgreSQL, per call on the hot paths. SQLAlchemy's engine (``self.engine``)
only migrates and checks the schema.

Pages are keyset queries on ``(user_id, created_at, id)`` and ``(thread_id, created_at,
id)`` indexes, with the ownership check and the cursor's position inside the one
statement; only an empty page after a cursor costs a second query, to tell "no such
cursor" from "the end". Writes are one statement each, ownership included (``INSERT ...
SELECT ... WHERE <owned> ON CONFLICT DO UPDATE ... RETURNING``); ``delete_thread`` is one
``DELETE`` whose foreign keys cascade to the thread's items, feedback and attachments.
"""

import asyncio
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Unpack

from chatkit.types import Attachment, FeedbackKind, Page, ThreadItem, ThreadMetadata
from sqlalchemy.exc import DBAPIError, OperationalError

from chatkit_backend.stores import codec, sql_state, sql_usage
from chatkit_backend.stores.base import (
    BackendStore,
    Feedback,
    OwnedAttachment,
    OwnedThread,
    check_feedback_kind,
    check_page_request,
    owner_of,
)
from chatkit_backend.stores.connections import (
    Database,
    Rows,
    SQLiteDatabase,
    Transaction,
)
from chatkit_backend.stores.engine import (
    EngineKeywords,
    EngineOptions,
    build_engine,
    display_url,
    driver_dsn,
    parse_database_url,
    sqlite_file,
)
from chatkit_backend.stores.errors import (
    InvalidPageError,
    SchemaOutOfDateError,
    StoreNotFoundError,
    report_unavailable,
)
from chatkit_backend.stores.leases import LeaseState
from chatkit_backend.stores.migrations import current_on, head, known_revisions, upgrade_on
from chatkit_backend.stores.statements import (
    Statements,
    db_time,
    read_time,
    statements_for,
)
from chatkit_backend.stores.thread_updates import ThreadUpdate
from chatkit_backend.stores.usage import FeedbackQuery, UsageQuery, UsageRecord, UsageTotal

SQLITE_FOREIGN_KEY_RACE: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
"""A row written into a thread deleted at the same moment: the thread is gone (PostgreSQL
adds asyncpg's ``ForeignKeyViolationError``, imported only for a PostgreSQL store)."""


class SQLStore(BackendStore):
    """A store in SQLite or PostgreSQL; constructing it is cheap, it connects on first use."""

    def __init__(
        self,
        database_url: str,
        *,
        auto_upgrade: bool | None = None,
        **options: Unpack[EngineKeywords],
    ) -> None:
        """Engine options default as in ``EngineOptions``."""
        self.url = parse_database_url(database_url)
        self.display_url = display_url(database_url)
        self.kind = "sqlite" if self.url.get_backend_name() == "sqlite" else "postgresql"
        self.auto_upgrade = self.kind == "sqlite" if auto_upgrade is None else auto_upgrade
        self.options = EngineOptions(**options)
        self.engine = build_engine(self.url, self.options, pooled=False)
        self._time: Callable[[datetime], Any] = db_time(self.kind)  # type: ignore[arg-type]
        self._sql: Statements | None = None
        self._db: Database | None = None
        self._foreign_key_race: tuple[type[Exception], ...] = SQLITE_FOREIGN_KEY_RACE
        self._loop: asyncio.AbstractEventLoop | None = None
        self._schema_checked = False
        self._opened_earlier = 0
        self._open_locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"SQLStore({self.display_url!r})"

    # -- lifecycle --------------------------------------------------------------------
    async def open(self) -> None:
        """Check (or migrate) the schema once, and make the connection pool for this loop."""
        loop = asyncio.get_running_loop()
        if self._db is not None and self._loop is loop:
            return
        lock = self._open_locks.setdefault(loop, asyncio.Lock())
        async with lock:
            if self._db is not None and self._loop is loop:
                return
            if not self._schema_checked:
                path = sqlite_file(self.url)
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                with self._unavailable_on_errors():
                    if self.auto_upgrade:
                        await upgrade_on(self.engine)
                    else:
                        await self._check_schema()
                self._schema_checked = True
            if self._db is not None:  # made on another event loop (its connections are its)
                await self._forget_pool()
            self._sql = statements_for(self.kind)
            self._db = self._new_pool()
            self._loop = loop
            self._open_locks = {loop: lock}

    def _new_pool(self) -> Database:
        """The pool for this store's database (asyncpg is imported for PostgreSQL only)."""
        if self.kind == "sqlite":
            return SQLiteDatabase(driver_dsn(self.url), self.options, self.display_url)
        from chatkit_backend.stores.postgres import FOREIGN_KEY_VIOLATION, PostgresDatabase

        self._foreign_key_race = (*SQLITE_FOREIGN_KEY_RACE, FOREIGN_KEY_VIOLATION)
        return PostgresDatabase(driver_dsn(self.url), self.options, self.display_url)

    async def close(self) -> None:
        """Close every connection; a later call opens the store again."""
        db, self._db = self._db, None
        if db is not None:
            self._opened_earlier += db.opened
            await db.close()
        await self.engine.dispose()

    async def _forget_pool(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            self._opened_earlier += db.opened
            try:
                await asyncio.wait_for(db.close(), 5)
            except Exception:  # connections of a loop that is gone: let them be collected
                pass

    async def _database(self) -> tuple[Database, Statements]:
        """The pool and statements, opening the store first if needed."""
        if self._db is None or self._loop is not asyncio.get_running_loop():
            await self.open()
        assert self._db is not None and self._sql is not None
        return self._db, self._sql

    @property
    def connections_opened(self) -> int:
        """Database connections this store has opened for its calls so far, closed ones
        included (the schema check of ``open()`` aside): for tests and ops."""
        return self._opened_earlier + (self._db.opened if self._db is not None else 0)

    async def ping(self) -> None:
        db, sql = await self._database()
        await db.read(sql.select_one.text, ())

    async def schema_revision(self) -> str | None:
        """The schema revision of the database (None when empty); does not migrate."""
        with self._unavailable_on_errors():
            return await current_on(self.engine)

    async def _check_schema(self) -> None:
        revision = await current_on(self.engine)
        needed = head()
        if revision == needed:
            return
        fix = f"run `chatkit-backend db upgrade --database-url {self.display_url}`"
        if revision is None:
            message = (
                f"database schema is at revision none (empty database), this version needs "
                f"{needed}: {fix}"
            )
        elif revision not in known_revisions():
            message = (
                f"database schema is at revision {revision}, which this version does not know "
                f"(a newer chatkit-backend migrated it); this version needs {needed}: run the "
                "newer version, or restore a backup taken before it migrated"
            )
        else:
            message = (
                f"database schema is at revision {revision}, this version needs {needed}: {fix}"
            )
        raise SchemaOutOfDateError(message)

    @contextmanager
    def _unavailable_on_errors(self) -> Iterator[None]:
        """Opening through SQLAlchemy: "cannot reach or lock the database" is a 503."""
        try:
            yield
        except OperationalError as exc:
            if "database is locked" in str(exc.orig):
                raise report_unavailable(
                    f"the SQLite database stayed locked past the busy timeout "
                    f"({self.options.busy_timeout_ms} ms)",
                    exc,
                ) from None
            if exc.connection_invalidated or self.kind == "postgresql":
                raise report_unavailable(
                    f"cannot reach the database at {self.display_url}: {type(exc.orig).__name__}",
                    exc,
                ) from None
            raise
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise report_unavailable(
                    f"lost the connection to the database at {self.display_url}", exc
                ) from None
            if exc.statement is None:  # refused while connecting: no such database, role...
                raise report_unavailable(
                    f"cannot use the database at {self.display_url}: {exc.orig}", exc
                ) from None
            raise
        except (OSError, TimeoutError) as exc:
            raise report_unavailable(
                f"cannot reach the database at {self.display_url}: {type(exc).__name__}", exc
            ) from None

    # -- helpers ----------------------------------------------------------------------
    @staticmethod
    def _page(rows: Rows, limit: int, column: int, parse: Callable[[str], Any]) -> Page[Any]:
        data = [parse(row[column]) for row in rows[:limit]]
        has_more = len(rows) > limit
        # The rows are validated models already: build the page without validating again.
        return Page.model_construct(
            data=data, has_more=has_more, after=data[-1].id if has_more else None
        )

    async def _owns_thread(self, read: Any, sql: Statements, thread_id: str, user_id: str) -> bool:
        return bool(await read(sql.thread.text, sql.thread.args(id=thread_id, user_id=user_id)))

    async def _lock_thread(
        self, tx: Transaction, sql: Statements, thread_id: str, user_id: str
    ) -> None:
        """In a write transaction: the user's thread must exist, and (PostgreSQL) stays
        until the transaction ends (``FOR KEY SHARE``; SQLite holds the write lock)."""
        statement = sql.thread_for_share if self.kind == "postgresql" else sql.thread
        args = statement.args(thread_id=thread_id, id=thread_id, user_id=user_id)
        if not await tx.fetch(statement.text, args):
            raise StoreNotFoundError(f"thread {thread_id!r} not found")

    # -- threads ----------------------------------------------------------------------
    async def load_thread(self, thread_id: str, context: Any) -> ThreadMetadata:
        db, sql = await self._database()
        rows = await db.read(
            sql.thread.text, sql.thread.args(id=thread_id, user_id=owner_of(context))
        )
        if not rows:
            raise StoreNotFoundError(f"thread {thread_id!r} not found")
        return codec.load_thread(rows[0][0])

    async def save_thread(self, thread: ThreadMetadata, context: Any) -> None:
        db, sql = await self._database()
        args = sql.save_thread.args(
            id=thread.id,
            user_id=owner_of(context),
            created_at=self._time(thread.created_at),
            data=codec.dump_thread(thread),
        )
        if not await db.write(sql.save_thread.text, args):
            raise StoreNotFoundError(f"thread {thread.id!r} not found")  # another user's

    async def _thread_rows(self, limit: int, after: str | None, order: str, context: Any) -> Rows:
        """``(id, data)`` of up to ``limit + 1`` of the user's threads after the cursor."""
        check_page_request(limit, order)
        db, sql = await self._database()
        user_id = owner_of(context)
        page = sql.threads_page[(order, after is not None)]
        rows = await db.read(page.text, page.args(user_id=user_id, after=after, limit=limit + 1))
        if not rows and after is not None:
            exists = sql.thread_cursor_exists
            if not (await db.read(exists.text, exists.args(after=after, user_id=user_id)))[0][0]:
                raise InvalidPageError(f"after: no thread {after!r} to continue from")
        return rows

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: Any
    ) -> Page[ThreadMetadata]:
        rows = await self._thread_rows(limit, after, order, context)
        return self._page(rows, limit, 1, codec.load_thread)

    async def load_threads_json(
        self, limit: int, after: str | None, order: str, context: Any
    ) -> bytes:
        rows = await self._thread_rows(limit, after, order, context)
        has_more = len(rows) > limit
        return codec.thread_list_json(
            [codec.thread_list_row(row[1]) for row in rows[:limit]],
            has_more,
            rows[limit - 1][0] if has_more else None,
        )

    async def delete_thread(self, thread_id: str, context: Any) -> None:
        db, sql = await self._database()
        await db.write(
            sql.delete_thread.text,
            sql.delete_thread.args(thread_id=thread_id, user_id=owner_of(context)),
        )

    # -- items ------------------------------------------------------------------------
    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: Any
    ) -> Page[ThreadItem]:
        check_page_request(limit, order)
        db, sql = await self._database()
        user_id = owner_of(context)
        page = sql.items_page[(order, after is not None)]
        rows = await db.read(
            page.text, page.args(thread_id=thread_id, user_id=user_id, after=after, limit=limit + 1)
        )
        if not rows and after is not None:  # the end, or no such thread, or no such cursor
            probe = sql.items_probe
            owned, cursor = (
                await db.read(
                    probe.text, probe.args(thread_id=thread_id, user_id=user_id, after=after)
                )
            )[0]
            if owned and not cursor:
                raise InvalidPageError(f"after: no item {after!r} in thread {thread_id!r}")
        return self._page(rows, limit, 0, codec.load_item)

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        db, sql = await self._database()
        args = sql.save_item.args(
            thread_id=thread_id,
            id=item.id,
            created_at=self._time(item.created_at),
            type=item.type,
            data=codec.dump_item(item),
            user_id=owner_of(context),
        )
        try:
            saved = await db.write(sql.save_item.text, args)
        except self._foreign_key_race:
            saved = []
        if not saved:
            raise StoreNotFoundError(f"thread {thread_id!r} not found")

    async def add_thread_items(
        self, thread_id: str, items_to_add: list[ThreadItem], context: Any
    ) -> None:
        db, sql = await self._database()
        rows = [
            sql.save_items.args(
                thread_id=thread_id,
                id=item.id,
                created_at=self._time(item.created_at),
                type=item.type,
                data=codec.dump_item(item),
            )
            for item in items_to_add
        ]
        async with db.transaction() as tx:
            await self._lock_thread(tx, sql, thread_id, owner_of(context))
            if rows:
                await tx.executemany(sql.save_items.text, rows)

    async def save_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        await self.add_thread_item(thread_id, item, context)

    async def load_item(self, thread_id: str, item_id: str, context: Any) -> ThreadItem:
        db, sql = await self._database()
        rows = await db.read(
            sql.item.text,
            sql.item.args(thread_id=thread_id, id=item_id, user_id=owner_of(context)),
        )
        if not rows:
            raise StoreNotFoundError(f"item {item_id!r} not found in thread {thread_id!r}")
        return codec.load_item(rows[0][0])

    async def delete_thread_item(self, thread_id: str, item_id: str, context: Any) -> None:
        db, sql = await self._database()
        await db.write(
            sql.delete_item.text,
            sql.delete_item.args(thread_id=thread_id, id=item_id, user_id=owner_of(context)),
        )

    # -- attachments ------------------------------------------------------------------
    async def save_attachment(self, attachment: Attachment, context: Any) -> None:
        db, sql = await self._database()
        user_id = owner_of(context)
        bound_to = attachment.thread_id
        statement = sql.save_attachment if bound_to is None else sql.save_bound_attachment
        args = statement.args(
            id=attachment.id,
            user_id=user_id,
            bound_to=bound_to,
            created_at=self._time(datetime.now(UTC)),  # kept on update (not replaced)
            data=codec.dump_attachment(attachment),
        )
        try:
            saved = await db.write(statement.text, args)
        except self._foreign_key_race:
            saved = []
        if saved:
            return
        if bound_to is not None and not await self._owns_thread(db.read, sql, bound_to, user_id):
            raise StoreNotFoundError(f"thread {bound_to!r} not found")
        raise StoreNotFoundError(f"attachment {attachment.id!r} not found")  # another user's

    async def load_attachment(self, attachment_id: str, context: Any) -> Attachment:
        db, sql = await self._database()
        rows = await db.read(
            sql.attachment.text, sql.attachment.args(id=attachment_id, user_id=owner_of(context))
        )
        if not rows:
            raise StoreNotFoundError(f"attachment {attachment_id!r} not found")
        return codec.load_attachment(rows[0][0])

    async def delete_attachment(self, attachment_id: str, context: Any) -> None:
        db, sql = await self._database()
        await db.write(
            sql.delete_attachment.text,
            sql.delete_attachment.args(id=attachment_id, user_id=owner_of(context)),
        )

    # -- feedback ---------------------------------------------------------------------
    async def save_feedback(
        self, thread_id: str, item_ids: list[str], kind: FeedbackKind, context: Any
    ) -> None:
        await self._record_feedback(thread_id, item_ids, kind, datetime.now(UTC), context)

    async def restore_feedback(
        self,
        thread_id: str,
        item_ids: list[str],
        kind: FeedbackKind,
        created_at: datetime,
        context: Any,
    ) -> None:
        await self._record_feedback(thread_id, item_ids, kind, created_at, context)

    async def _record_feedback(
        self,
        thread_id: str,
        item_ids: list[str],
        kind: FeedbackKind,
        created_at: datetime,
        context: Any,
    ) -> None:
        check_feedback_kind(kind)
        db, sql = await self._database()
        user_id = owner_of(context)
        wanted = sorted(set(item_ids))
        ids: Any = json.dumps(wanted) if self.kind == "sqlite" else wanted
        async with db.transaction() as tx:
            await self._lock_thread(tx, sql, thread_id, user_id)
            found = await tx.fetch(
                sql.items_found.text, sql.items_found.args(thread_id=thread_id, ids=ids)
            )
            missing = sorted(set(wanted) - {row[0] for row in found})
            if missing:
                raise StoreNotFoundError(f"item {missing[0]!r} not found in thread {thread_id!r}")
            await tx.fetch(
                sql.add_feedback.text,
                sql.add_feedback.args(
                    thread_id=thread_id,
                    user_id=user_id,
                    item_ids=json.dumps(item_ids),
                    kind=kind,
                    created_at=self._time(created_at),
                ),
            )

    async def load_feedback(self, thread_id: str, context: Any) -> list[Feedback]:
        db, sql = await self._database()
        user_id = owner_of(context)
        rows = await db.read(
            sql.feedback.text, sql.feedback.args(thread_id=thread_id, user_id=user_id)
        )
        if not rows and not await self._owns_thread(db.read, sql, thread_id, user_id):
            raise StoreNotFoundError(f"thread {thread_id!r} not found")
        return [sql_usage.feedback_of(row) for row in rows]

    # -- admin ------------------------------------------------------------------------
    async def admin_list_threads(
        self, user_id: str | None, *, limit: int = 100, created_before: datetime | None = None
    ) -> list[OwnedThread]:
        check_page_request(limit, "desc")
        db, sql = await self._database()
        query = sql.admin_threads(user_id is not None, created_before is not None)
        before = self._time(created_before) if created_before is not None else None
        rows = await db.read(query.text, query.args(user_id=user_id, before=before, limit=limit))
        return [OwnedThread(user_id=row[0], thread=codec.load_thread(row[1])) for row in rows]

    async def admin_stale_attachments(self, created_before: datetime) -> list[OwnedAttachment]:
        db, sql = await self._database()
        query = sql.stale_attachments
        rows = await db.read(query.text, query.args(before=self._time(created_before)))
        return [
            OwnedAttachment(
                user_id=row[0],
                attachment=codec.load_attachment(row[1]),
                created_at=read_time(row[2]),
            )
            for row in rows
        ]

    async def admin_thread_attachments(self, user_id: str, thread_id: str) -> list[Attachment]:
        db, sql = await self._database()
        query = sql.thread_attachments
        rows = await db.read(query.text, query.args(thread_id=thread_id, user_id=user_id))
        return [codec.load_attachment(row[0]) for row in rows]

    # -- thread metadata and reply leases (stores/sql_state.py) ------------------------
    async def update_thread(
        self, thread_id: str, update: ThreadUpdate, context: Any
    ) -> ThreadMetadata:
        db, sql = await self._database()
        return await sql_state.update_thread(
            db, sql_state.state_statements(sql.dialect), thread_id, owner_of(context), update
        )

    async def _leases(self) -> sql_state.SQLLeases:
        db, sql = await self._database()
        return sql_state.SQLLeases(db, sql_state.state_statements(sql.dialect))

    async def acquire_thread_lease(
        self,
        thread_id: str,
        holder: str,
        ttl: float,
        context: Any,
        *,
        request_id: str | None = None,
    ) -> bool:
        leases = await self._leases()
        return await leases.acquire(thread_id, holder, owner_of(context), ttl, request_id)

    async def renew_thread_lease(self, thread_id: str, holder: str, ttl: float) -> LeaseState:
        return await (await self._leases()).renew(thread_id, holder, ttl)

    async def release_thread_lease(self, thread_id: str, holder: str) -> None:
        await (await self._leases()).release(thread_id, holder)

    async def request_reply_stop(self, request_id: str, context: Any) -> bool:
        return await (await self._leases()).request_stop(request_id, owner_of(context))

    async def admin_thread_owner(self, thread_id: str) -> str | None:
        db, sql = await self._database()
        query = sql_state.state_statements(sql.dialect).thread_owner
        rows = await db.read(query.text, query.args(id=thread_id))
        return str(rows[0][0]) if rows else None

    # -- usage and feedback across users (stores/sql_usage.py) ------------------------
    async def save_usage(self, record: UsageRecord) -> None:
        db, sql = await self._database()
        await sql_usage.save_usage(db, sql.dialect, record)

    async def admin_usage(self, query: UsageQuery) -> list[UsageTotal]:
        db, sql = await self._database()
        return await sql_usage.admin_usage(db, sql.dialect, query)

    async def admin_feedback(self, query: FeedbackQuery) -> list[Feedback]:
        db, sql = await self._database()
        return await sql_usage.admin_feedback(db, sql.dialect, query)

    async def count_rows(self) -> dict[str, int]:
        """Row counts per table (for `doctor` and tests)."""
        db, sql = await self._database()
        row = (await db.read(sql.count_rows.text, ()))[0]
        return {
            name: int(count)
            for name, count in zip(
                ("chatkit_threads", "chatkit_items", "chatkit_attachments", "chatkit_feedback"),
                row,
                strict=True,
            )
        }
