"""``SQLStore``: one store on SQLAlchemy async Core for SQLite (aiosqlite) and PostgreSQL (asyncpg).

The semantics are in ``chatkit_backend.stores.base``. Pages are keyset queries on
``(user_id, created_at, id)`` and ``(thread_id, created_at, id)`` indexes. The hot paths
are one statement each, ownership check included: a page (the cursor's position is a
subquery; only an empty page costs a second query, to tell "no such thread" or "no such
cursor" from "the end"), ``load_item``, and ``add_thread_item``/``save_item``/
``save_thread`` (``INSERT ... SELECT ... WHERE <owned> ON CONFLICT DO UPDATE ...
RETURNING``). Writes on SQLite also queue on an in-process lock, so concurrent writers of
one process wait their turn without spinning on the file lock (other processes queue on
the busy timeout).
"""

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any, ParamSpec, Unpack

from chatkit.types import Attachment, FeedbackKind, Page, ThreadItem, ThreadMetadata
from sqlalchemy import (
    ColumnElement,
    Exists,
    Row,
    Select,
    Table,
    delete,
    exists,
    func,
    literal,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection

from chatkit_backend.stores import codec
from chatkit_backend.stores.base import (
    BackendStore,
    Feedback,
    OwnedAttachment,
    OwnedThread,
    check_feedback_kind,
    check_page_request,
    owner_of,
)
from chatkit_backend.stores.engine import (
    SQLITE_BEGIN,
    EngineKeywords,
    EngineOptions,
    build_engine,
    display_url,
    parse_database_url,
    sqlite_file,
)
from chatkit_backend.stores.errors import (
    InvalidPageError,
    SchemaOutOfDateError,
    StoreNotFoundError,
    StoreUnavailableError,
)
from chatkit_backend.stores.migrations import current_on, head, known_revisions, upgrade_on
from chatkit_backend.stores.schema import (
    ID_TYPE,
    UTCDateTime,
    attachments,
    feedback,
    items,
    threads,
)

Insert = Callable[..., Any]


P = ParamSpec("P")
_INFLIGHT: set[asyncio.Future[Any]] = set()


def shielded(method: Callable[P, Any]) -> Callable[P, Any]:
    """Run a database call to completion even if its caller is cancelled.

    A client that hangs up cancels the task streaming its reply, often while that task
    waits on the database. Cancelled midway, an aiosqlite (or asyncpg) connection can go
    back to the pool still inside its transaction, holding SQLite's write lock until every
    later write times out. Shielded, the call finishes (commits or rolls back, and returns
    its connection); the caller still sees ``CancelledError`` at once.
    """

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        task = asyncio.ensure_future(method(*args, **kwargs))
        _INFLIGHT.add(task)
        task.add_done_callback(_finished)
        return await asyncio.shield(task)

    return wrapper


def _finished(task: asyncio.Future[Any]) -> None:
    _INFLIGHT.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved, so a failure after the caller left is not reported twice


def _thread_of(thread_id: str, user_id: str) -> ColumnElement[bool]:
    """The condition picking the user's thread with this id."""
    return (threads.c.id == thread_id) & (threads.c.user_id == user_id)


def _owns_thread(thread_id: str, user_id: str) -> Exists:
    """``EXISTS`` the user's thread with this id."""
    return exists().where(_thread_of(thread_id, user_id))


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
        self.engine = build_engine(self.url, self.options)
        self._insert: Insert = sqlite_insert if self.kind == "sqlite" else postgres_insert
        self._opened = False
        self._locks_loop: asyncio.AbstractEventLoop | None = None
        self._open_lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SQLStore({self.display_url!r})"

    # -- lifecycle --------------------------------------------------------------------
    async def open(self) -> None:
        self._bind_locks()
        async with self._open_lock:
            if self._opened:
                return
            path = sqlite_file(self.url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            with self._unavailable_on_errors():
                if self.auto_upgrade:
                    await upgrade_on(self.engine)
                else:
                    await self._check_schema()
            self._opened = True

    async def close(self) -> None:
        self._opened = False
        await self.engine.dispose()

    @shielded
    async def ping(self) -> None:
        async with self._read() as conn:
            await conn.execute(text("SELECT 1"))

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

    def _bind_locks(self) -> None:
        """Recreate the asyncio locks when the store moves to another event loop."""
        loop = asyncio.get_running_loop()
        if self._locks_loop is not loop:
            self._locks_loop = loop
            self._open_lock = asyncio.Lock()
            self._write_lock = asyncio.Lock()

    # -- connections ------------------------------------------------------------------
    @asynccontextmanager
    async def _read(self, *, statements: str = "one") -> AsyncIterator[AsyncConnection]:
        """A connection for reading: one statement needs no transaction; several get a snapshot."""
        if not self._opened:
            await self.open()
        with self._unavailable_on_errors():
            async with self.engine.connect() as conn:
                await conn.execution_options(**self._transaction_options(statements, "DEFERRED"))
                yield conn

    @asynccontextmanager
    async def _write(self, *, statements: str = "many") -> AsyncIterator[AsyncConnection]:
        """A connection in a write transaction, committed on success.

        ``statements="one"`` skips SQLite's ``BEGIN``: a single statement is atomic alone.
        """
        if not self._opened:
            await self.open()
        self._bind_locks()
        queue = self._write_lock if self.kind == "sqlite" else nullcontext()
        with self._unavailable_on_errors():
            async with queue, self.engine.connect() as conn:
                await conn.execution_options(**self._transaction_options(statements, "IMMEDIATE"))
                async with conn.begin():
                    yield conn

    def _transaction_options(self, statements: str, sqlite_begin: str) -> dict[str, str]:
        """Execution options: no transaction around a single statement (it is atomic alone).

        That saves the ``BEGIN`` and ``COMMIT``/``ROLLBACK`` round trips: to the aiosqlite
        thread on SQLite, to the server on PostgreSQL.
        """
        if statements == "one":
            return (
                {SQLITE_BEGIN: "NONE"}
                if self.kind == "sqlite"
                else {"isolation_level": "AUTOCOMMIT"}
            )
        return {SQLITE_BEGIN: sqlite_begin} if self.kind == "sqlite" else {}

    @contextmanager
    def _unavailable_on_errors(self) -> Iterator[None]:
        """Turn "cannot reach or lock the database" into StoreUnavailableError (503)."""
        try:
            yield
        except PoolTimeoutError:
            raise StoreUnavailableError(
                f"no database connection became free within {self.options.pool_timeout:g} s "
                f"(pool size {self.options.pool_size} + {self.options.max_overflow})"
            ) from None
        except OperationalError as exc:
            if "database is locked" in str(exc.orig):
                raise StoreUnavailableError(
                    f"the SQLite database stayed locked past the busy timeout "
                    f"({self.options.busy_timeout_ms} ms)"
                ) from None
            if exc.connection_invalidated or self.kind == "postgresql":
                raise StoreUnavailableError(
                    f"cannot reach the database at {self.display_url}: {type(exc.orig).__name__}"
                ) from None
            raise
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise StoreUnavailableError(
                    f"lost the connection to the database at {self.display_url}"
                ) from None
            raise
        except (OSError, TimeoutError) as exc:
            raise StoreUnavailableError(
                f"cannot reach the database at {self.display_url}: {type(exc).__name__}"
            ) from None

    # -- helpers ----------------------------------------------------------------------
    async def _owned_thread_exists(
        self, conn: AsyncConnection, thread_id: str, user_id: str, *, lock: str | None = None
    ) -> bool:
        """Whether the user owns the thread; on PostgreSQL, ``lock`` keeps it from changing."""
        query = select(threads.c.id).where(_thread_of(thread_id, user_id))
        if lock == "share":
            query = query.with_for_update(read=True, key_share=True)
        elif lock == "update":
            query = query.with_for_update()
        return (await conn.execute(query)).first() is not None

    async def _require_thread(
        self, conn: AsyncConnection, thread_id: str, user_id: str, *, lock: str | None = None
    ) -> None:
        if not await self._owned_thread_exists(conn, thread_id, user_id, lock=lock):
            raise StoreNotFoundError(f"thread {thread_id!r} not found")

    @staticmethod
    def _page(
        query: Select[Any],
        table: Table,
        cursor_row: ColumnElement[bool],
        after: str | None,
        limit: int,
        order: str,
    ) -> Select[Any]:
        """A keyset page of ``table``: rows after ``after`` (the row ``cursor_row`` picks) in
        ``order``, one past ``limit``."""
        created_at, row_id = table.c.created_at, table.c.id
        if after is not None:
            cursor_at = select(created_at).where(cursor_row).scalar_subquery()
            position = tuple_(created_at, row_id)
            bound = tuple_(cursor_at, literal(after, ID_TYPE))
            query = query.where(position > bound if order == "asc" else position < bound)
        if order == "asc":
            query = query.order_by(created_at.asc(), row_id.asc())
        else:
            query = query.order_by(created_at.desc(), row_id.desc())
        return query.limit(limit + 1)

    @staticmethod
    def _to_page(rows: Sequence[Row[Any]], limit: int, parse: Callable[[str], Any]) -> Page[Any]:
        data = [parse(row.data) for row in rows[:limit]]
        has_more = len(rows) > limit
        # The rows are validated models already: build the page without validating again.
        return Page.model_construct(
            data=data, has_more=has_more, after=data[-1].id if has_more else None
        )

    def _item_values(self, thread_id: str, item: ThreadItem) -> dict[str, Any]:
        return {
            "thread_id": thread_id,
            "id": item.id,
            "created_at": item.created_at,
            "type": item.type,
            "data": codec.dump_item(item),
        }

    def _upsert_items(self) -> Any:
        return self._replace_item_on_conflict(self._insert(items))

    @staticmethod
    def _replace_item_on_conflict(insert: Any) -> Any:
        """``insert`` replacing the item of the same thread and id, if there is one."""
        return insert.on_conflict_do_update(
            index_elements=[items.c.thread_id, items.c.id],
            set_={
                "created_at": insert.excluded.created_at,
                "type": insert.excluded.type,
                "data": insert.excluded.data,
            },
        )

    def _upsert_owned_item(self, thread_id: str, user_id: str, item: ThreadItem) -> Any:
        """One statement: insert or replace the item if the user owns the thread; returns its id."""
        owned = _owns_thread(thread_id, user_id)
        row = select(
            literal(thread_id, ID_TYPE),
            literal(item.id, ID_TYPE),
            literal(item.created_at, UTCDateTime()),
            literal(item.type, items.c.type.type),
            literal(codec.dump_item(item), items.c.data.type),
        ).where(owned)
        insert = self._insert(items).from_select(
            ["thread_id", "id", "created_at", "type", "data"], row
        )
        return self._replace_item_on_conflict(insert).returning(items.c.id)

    def _upsert_owned(self, table: Table, values: dict[str, Any], replace: Sequence[str]) -> Any:
        """Insert a row, or replace the ``replace`` columns of the row with its id if the same
        user owns it; returns the id (no row when another user owns it)."""
        insert = self._insert(table).values(**values)
        return insert.on_conflict_do_update(
            index_elements=[table.c.id],
            set_={name: insert.excluded[name] for name in replace},
            where=table.c.user_id == insert.excluded.user_id,
        ).returning(table.c.id)

    async def _load_owned_data(self, table: Table, row_id: str, user_id: str, noun: str) -> str:
        """The ``data`` of the user's row with this id in ``table``, or StoreNotFoundError."""
        async with self._read() as conn:
            data = await conn.scalar(
                select(table.c.data).where(table.c.id == row_id, table.c.user_id == user_id)
            )
        if data is None:
            raise StoreNotFoundError(f"{noun} {row_id!r} not found")
        return str(data)

    # -- threads ----------------------------------------------------------------------
    @shielded
    async def load_thread(self, thread_id: str, context: Any) -> ThreadMetadata:
        data = await self._load_owned_data(threads, thread_id, owner_of(context), "thread")
        return codec.load_thread(data)

    @shielded
    async def save_thread(self, thread: ThreadMetadata, context: Any) -> None:
        upsert = self._upsert_owned(
            threads,
            {
                "id": thread.id,
                "user_id": owner_of(context),
                "created_at": thread.created_at,
                "data": codec.dump_thread(thread),
            },
            replace=("created_at", "data"),
        )
        async with self._write(statements="one") as conn:
            saved = (await conn.execute(upsert)).first()
        if saved is None:
            raise StoreNotFoundError(f"thread {thread.id!r} not found")

    @shielded
    async def load_threads(
        self, limit: int, after: str | None, order: str, context: Any
    ) -> Page[ThreadMetadata]:
        check_page_request(limit, order)
        user_id = owner_of(context)
        cursor_row = (threads.c.id == after) & (threads.c.user_id == user_id)
        theirs = select(threads.c.data).where(threads.c.user_id == user_id)
        query = self._page(theirs, threads, cursor_row, after, limit, order)
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
            if not rows and after is not None:
                if not await conn.scalar(select(exists().where(cursor_row))):
                    raise InvalidPageError(f"after: no thread {after!r} to continue from")
        return self._to_page(rows, limit, codec.load_thread)

    @shielded
    async def delete_thread(self, thread_id: str, context: Any) -> None:
        user_id = owner_of(context)
        async with self._write() as conn:
            if not await self._owned_thread_exists(conn, thread_id, user_id, lock="update"):
                return
            for table in (feedback, attachments, items):
                await conn.execute(delete(table).where(table.c.thread_id == thread_id))
            await conn.execute(delete(threads).where(threads.c.id == thread_id))

    # -- items ------------------------------------------------------------------------
    @shielded
    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: Any
    ) -> Page[ThreadItem]:
        check_page_request(limit, order)
        user_id = owner_of(context)
        owned = _owns_thread(thread_id, user_id)
        cursor_row = (items.c.thread_id == thread_id) & (items.c.id == after)
        in_thread = select(items.c.data).where(items.c.thread_id == thread_id, owned)
        query = self._page(in_thread, items, cursor_row, after, limit, order)
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
            if not rows:  # the end, or no such thread or cursor: one more query tells
                found = (
                    await conn.execute(
                        select(owned.label("thread"), exists().where(cursor_row).label("cursor"))
                    )
                ).one()
                if not found.thread:
                    raise StoreNotFoundError(f"thread {thread_id!r} not found")
                if after is not None and not found.cursor:
                    raise InvalidPageError(f"after: no item {after!r} in thread {thread_id!r}")
        return self._to_page(rows, limit, codec.load_item)

    @shielded
    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        statement = self._upsert_owned_item(thread_id, owner_of(context), item)
        try:
            async with self._write(statements="one") as conn:
                saved = (await conn.execute(statement)).first()
        except IntegrityError:  # PostgreSQL: the thread was deleted while we wrote
            saved = None
        if saved is None:
            raise StoreNotFoundError(f"thread {thread_id!r} not found")

    @shielded
    async def add_thread_items(
        self, thread_id: str, items_to_add: list[ThreadItem], context: Any
    ) -> None:
        user_id = owner_of(context)
        values = [self._item_values(thread_id, item) for item in items_to_add]
        async with self._write() as conn:
            await self._require_thread(conn, thread_id, user_id, lock="share")
            if values:
                await conn.execute(self._upsert_items(), values)

    @shielded
    async def save_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        await self.add_thread_item(thread_id, item, context)

    @shielded
    async def load_item(self, thread_id: str, item_id: str, context: Any) -> ThreadItem:
        user_id = owner_of(context)
        owned = _owns_thread(thread_id, user_id)
        async with self._read() as conn:
            data = await conn.scalar(
                select(items.c.data).where(
                    items.c.thread_id == thread_id, items.c.id == item_id, owned
                )
            )
        if data is None:
            raise StoreNotFoundError(f"item {item_id!r} not found in thread {thread_id!r}")
        return codec.load_item(data)

    @shielded
    async def delete_thread_item(self, thread_id: str, item_id: str, context: Any) -> None:
        user_id = owner_of(context)
        owned = _owns_thread(thread_id, user_id)
        async with self._write(statements="one") as conn:
            await conn.execute(
                delete(items).where(items.c.thread_id == thread_id, items.c.id == item_id, owned)
            )

    # -- attachments ------------------------------------------------------------------
    @shielded
    async def save_attachment(self, attachment: Attachment, context: Any) -> None:
        user_id = owner_of(context)
        upsert = self._upsert_owned(
            attachments,
            {
                "id": attachment.id,
                "user_id": user_id,
                "thread_id": attachment.thread_id,
                "created_at": datetime.now(UTC),
                "data": codec.dump_attachment(attachment),
            },
            replace=("thread_id", "data"),
        )
        async with self._write() as conn:
            if attachment.thread_id is not None:
                await self._require_thread(conn, attachment.thread_id, user_id, lock="share")
            saved = (await conn.execute(upsert)).first()
        if saved is None:
            raise StoreNotFoundError(f"attachment {attachment.id!r} not found")

    @shielded
    async def load_attachment(self, attachment_id: str, context: Any) -> Attachment:
        data = await self._load_owned_data(
            attachments, attachment_id, owner_of(context), "attachment"
        )
        return codec.load_attachment(data)

    @shielded
    async def delete_attachment(self, attachment_id: str, context: Any) -> None:
        user_id = owner_of(context)
        async with self._write(statements="one") as conn:
            await conn.execute(
                delete(attachments).where(
                    attachments.c.id == attachment_id, attachments.c.user_id == user_id
                )
            )

    # -- feedback ---------------------------------------------------------------------
    @shielded
    async def save_feedback(
        self, thread_id: str, item_ids: list[str], kind: FeedbackKind, context: Any
    ) -> None:
        check_feedback_kind(kind)
        user_id = owner_of(context)
        async with self._write() as conn:
            await self._require_thread(conn, thread_id, user_id, lock="share")
            wanted = set(item_ids)
            found = set(
                (
                    await conn.scalars(
                        select(items.c.id).where(
                            items.c.thread_id == thread_id, items.c.id.in_(wanted)
                        )
                    )
                ).all()
            )
            missing = sorted(wanted - found)
            if missing:
                raise StoreNotFoundError(f"item {missing[0]!r} not found in thread {thread_id!r}")
            await conn.execute(
                feedback.insert().values(
                    thread_id=thread_id,
                    user_id=user_id,
                    item_ids=json.dumps(item_ids),
                    kind=kind,
                    created_at=datetime.now(UTC),
                )
            )

    @shielded
    async def load_feedback(self, thread_id: str, context: Any) -> list[Feedback]:
        user_id = owner_of(context)
        async with self._read(statements="many") as conn:
            await self._require_thread(conn, thread_id, user_id)
            rows = (
                await conn.execute(
                    select(feedback)
                    .where(feedback.c.thread_id == thread_id)
                    .order_by(feedback.c.created_at, feedback.c.id)
                )
            ).all()
        return [
            Feedback(
                thread_id=row.thread_id,
                item_ids=json.loads(row.item_ids),
                kind=row.kind,
                user_id=row.user_id,
                created_at=row.created_at,
            )
            for row in rows
        ]

    # -- admin ------------------------------------------------------------------------
    @shielded
    async def admin_list_threads(
        self, user_id: str | None, *, limit: int = 100, created_before: datetime | None = None
    ) -> list[OwnedThread]:
        check_page_request(limit, "desc")
        query = select(threads.c.user_id, threads.c.data)
        if user_id is not None:
            query = query.where(threads.c.user_id == user_id)
        if created_before is not None:
            query = query.where(threads.c.created_at < created_before)
        query = query.order_by(threads.c.created_at.desc(), threads.c.id.desc()).limit(limit)
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            OwnedThread(user_id=row.user_id, thread=codec.load_thread(row.data)) for row in rows
        ]

    @shielded
    async def admin_stale_attachments(self, created_before: datetime) -> list[OwnedAttachment]:
        query = (
            select(attachments.c.user_id, attachments.c.data, attachments.c.created_at)
            .where(attachments.c.thread_id.is_(None), attachments.c.created_at < created_before)
            .order_by(attachments.c.created_at, attachments.c.id)
        )
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            OwnedAttachment(
                user_id=row.user_id,
                attachment=codec.load_attachment(row.data),
                created_at=row.created_at,
            )
            for row in rows
        ]

    @shielded
    async def admin_thread_attachments(self, user_id: str, thread_id: str) -> list[Attachment]:
        query = (
            select(attachments.c.data)
            .where(attachments.c.thread_id == thread_id, attachments.c.user_id == user_id)
            .order_by(attachments.c.created_at, attachments.c.id)
        )
        async with self._read() as conn:
            rows = (await conn.scalars(query)).all()
        return [codec.load_attachment(data) for data in rows]

    @shielded
    async def count_rows(self) -> dict[str, int]:
        """Row counts per table (for `doctor` and tests)."""
        async with self._read(statements="many") as conn:
            return {
                table.name: int(await conn.scalar(select(func.count()).select_from(table)) or 0)
                for table in (threads, items, attachments, feedback)
            }
