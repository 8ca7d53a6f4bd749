"""The SQL of ``SQLStore``: built with SQLAlchemy Core, compiled once per dialect.

Each statement is written once, as Core, against the tables of ``schema.py``, and
compiled to the SQL text of SQLite (``?`` parameters) and PostgreSQL (asyncpg's ``$n``)
the first time a store of that dialect opens. A call then hands the text and a tuple of
values straight to the driver (``sqlite3`` through aiosqlite, asyncpg's prepared
statements): no statement is built, compiled or cached per call.

Values are passed as the drivers take them: ids and JSON as ``str``; times as aware
``datetime`` on PostgreSQL (``timestamptz``) and, on SQLite, as the fixed-width text
SQLAlchemy's ``DateTime`` stores (``2025-01-31 23:59:59.000001``, UTC), which sorts in
time order (``db_time``).
"""

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import (
    ColumnElement,
    Dialect,
    Exists,
    Select,
    Table,
    bindparam,
    delete,
    exists,
    func,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from chatkit_backend.stores.base import as_utc
from chatkit_backend.stores.schema import (
    ID_TYPE,
    UTCDateTime,
    attachments,
    feedback,
    items,
    threads,
)

DialectName = Literal["sqlite", "postgresql"]
Order = Literal["asc", "desc"]
SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True, slots=True)
class SQL:
    """A compiled statement: its text and the names of its positional parameters."""

    text: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]

    def args(self, **values: Any) -> tuple[Any, ...]:
        """The positional values, from named ones (a name may be used several times)."""
        defaults = self.defaults
        return tuple(values[name] if name in values else defaults[name] for name in self.names)


def compile_sql(statement: ClauseElement, dialect: Dialect) -> SQL:
    """The SQL text of ``statement`` for ``dialect``, parameters in driver order."""
    compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
    names = tuple(compiled.positiontup or ())
    defaults = {
        name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
    }
    return SQL(compiled.string, names, defaults)


def dialect_of(name: DialectName) -> Dialect:
    if name == "sqlite":
        return sqlite.dialect(paramstyle="qmark")
    return postgresql_asyncpg.dialect()  # type: ignore[no-untyped-call]


def db_time(dialect: DialectName) -> Callable[[datetime], Any]:
    """How a time is passed to the driver: aware UTC (PostgreSQL) or fixed-width text (SQLite)."""
    if dialect == "sqlite":
        return lambda value: as_utc(value).strftime(SQLITE_TIME_FORMAT)
    return as_utc


def read_time(value: Any) -> datetime:
    """A time column as the driver returns it, as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return as_utc(value)


# -- building blocks ----------------------------------------------------------------------
def _id(name: str) -> Any:
    return bindparam(name, type_=ID_TYPE)


def _owned_thread(thread: str = "thread_id") -> Exists:
    """``EXISTS`` the caller's thread named by the ``thread`` parameter."""
    return exists().where(threads.c.id == _id(thread), threads.c.user_id == _id("user_id"))


def _keyset(
    query: Select[Any], table: Table, cursor_row: ColumnElement[bool] | None, order: Order
) -> Select[Any]:
    """Rows after the cursor row (when there is one) in ``order``, ``:limit`` of them."""
    created_at, row_id = table.c.created_at, table.c.id
    if cursor_row is not None:
        cursor_at = select(created_at).where(cursor_row).scalar_subquery()
        position, bound = tuple_(created_at, row_id), tuple_(cursor_at, _id("after"))
        query = query.where(position > bound if order == "asc" else position < bound)
    if order == "asc":
        query = query.order_by(created_at.asc(), row_id.asc())
    else:
        query = query.order_by(created_at.desc(), row_id.desc())
    return query.limit(bindparam("limit"))


def _insert(dialect: DialectName, table: Table) -> Any:
    return (sqlite_insert if dialect == "sqlite" else postgres_insert)(table)


def _replace_item(insert: Any) -> Any:
    return insert.on_conflict_do_update(
        index_elements=[items.c.thread_id, items.c.id],
        set_={
            "created_at": insert.excluded.created_at,
            "type": insert.excluded.type,
            "data": insert.excluded.data,
        },
    )


def _item_row() -> Select[Any]:
    return select(
        _id("thread_id"),
        _id("id"),
        bindparam("created_at", type_=UTCDateTime()),
        bindparam("type", type_=items.c.type.type),
        bindparam("data", type_=items.c.data.type),
    )


def _replace_owned(insert: Any, table: Table, columns: tuple[str, ...]) -> Any:
    """On an existing id, replace ``columns`` only if the same user owns the row."""
    return insert.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={name: insert.excluded[name] for name in columns},
        where=table.c.user_id == insert.excluded.user_id,
    ).returning(table.c.id)


class Statements:
    """Every statement of the hot paths, compiled for one dialect."""

    def __init__(self, dialect: DialectName) -> None:
        self.dialect = dialect
        self._dialect = dialect_of(dialect)
        sql = self.compile
        owned = _owned_thread()

        # threads
        self.select_one = sql(select(literal_column("1")))
        self.thread = sql(
            select(threads.c.data).where(
                threads.c.id == _id("id"), threads.c.user_id == _id("user_id")
            )
        )
        insert = _insert(dialect, threads).values(
            id=_id("id"),
            user_id=_id("user_id"),
            created_at=bindparam("created_at", type_=UTCDateTime()),
            data=bindparam("data", type_=threads.c.data.type),
        )
        self.save_thread = sql(_replace_owned(insert, threads, ("created_at", "data")))
        theirs = select(threads.c.id, threads.c.data).where(threads.c.user_id == _id("user_id"))
        thread_cursor = (threads.c.id == _id("after")) & (threads.c.user_id == _id("user_id"))
        self.threads_page = {
            (order, with_after): sql(
                _keyset(theirs, threads, thread_cursor if with_after else None, order)
            )
            for order in ("asc", "desc")
            for with_after in (False, True)
        }
        self.thread_cursor_exists = sql(select(exists().where(thread_cursor)))
        self.delete_thread = sql(  # items, feedback and bound attachments go with it (CASCADE)
            delete(threads).where(
                threads.c.id == _id("thread_id"), threads.c.user_id == _id("user_id")
            )
        )
        self.thread_for_share = sql(
            select(threads.c.id)
            .where(threads.c.id == _id("thread_id"), threads.c.user_id == _id("user_id"))
            .with_for_update(read=True, key_share=True)
        )

        # items
        in_thread = select(items.c.data).where(items.c.thread_id == _id("thread_id"), owned)
        item_cursor = (items.c.thread_id == _id("thread_id")) & (items.c.id == _id("after"))
        self.items_page = {
            (order, with_after): sql(
                _keyset(in_thread, items, item_cursor if with_after else None, order)
            )
            for order in ("asc", "desc")
            for with_after in (False, True)
        }
        self.items_probe = sql(
            select(owned.label("thread"), exists().where(item_cursor).label("cursor"))
        )
        self.item = sql(
            select(items.c.data).where(
                items.c.thread_id == _id("thread_id"), items.c.id == _id("id"), owned
            )
        )
        insert = _insert(dialect, items).from_select(
            ["thread_id", "id", "created_at", "type", "data"], _item_row().where(owned)
        )
        self.save_item = sql(_replace_item(insert).returning(items.c.id))
        self.save_items = sql(
            _replace_item(
                _insert(dialect, items).values(
                    thread_id=_id("thread_id"),
                    id=_id("id"),
                    created_at=bindparam("created_at", type_=UTCDateTime()),
                    type=bindparam("type", type_=items.c.type.type),
                    data=bindparam("data", type_=items.c.data.type),
                )
            )
        )
        self.delete_item = sql(
            delete(items).where(
                items.c.thread_id == _id("thread_id"), items.c.id == _id("id"), owned
            )
        )

        # attachments
        values = {
            "id": _id("id"),
            "user_id": _id("user_id"),
            "thread_id": _id("bound_to"),
            "created_at": bindparam("created_at", type_=UTCDateTime()),
            "data": bindparam("data", type_=attachments.c.data.type),
        }
        self.save_attachment = sql(
            _replace_owned(
                _insert(dialect, attachments).values(**values),
                attachments,
                ("thread_id", "data"),
            )
        )
        bound_row = select(*values.values()).where(_owned_thread("bound_to"))
        self.save_bound_attachment = sql(
            _replace_owned(
                _insert(dialect, attachments).from_select(list(values), bound_row),
                attachments,
                ("thread_id", "data"),
            )
        )
        self.attachment = sql(
            select(attachments.c.data).where(
                attachments.c.id == _id("id"), attachments.c.user_id == _id("user_id")
            )
        )
        self.attachment_owner = sql(
            select(attachments.c.user_id).where(attachments.c.id == _id("id"))
        )
        self.delete_attachment = sql(
            delete(attachments).where(
                attachments.c.id == _id("id"), attachments.c.user_id == _id("user_id")
            )
        )
        self.thread_attachments = sql(
            select(attachments.c.data)
            .where(
                attachments.c.thread_id == _id("thread_id"),
                attachments.c.user_id == _id("user_id"),
            )
            .order_by(attachments.c.created_at, attachments.c.id)
        )
        self.stale_attachments = sql(
            select(attachments.c.user_id, attachments.c.data, attachments.c.created_at)
            .where(
                attachments.c.thread_id.is_(None),
                attachments.c.created_at < bindparam("before", type_=UTCDateTime()),
            )
            .order_by(attachments.c.created_at, attachments.c.id)
        )

        # feedback
        self.feedback = sql(
            select(
                feedback.c.thread_id,
                feedback.c.item_ids,
                feedback.c.kind,
                feedback.c.user_id,
                feedback.c.created_at,
            )
            .where(feedback.c.thread_id == _id("thread_id"), owned)
            .order_by(feedback.c.created_at, feedback.c.id)
        )
        in_ids: ColumnElement[bool]
        if dialect == "sqlite":  # the ids as one JSON array parameter
            listed: Select[Any] = select(literal_column("value")).select_from(
                func.json_each(bindparam("ids"))
            )
            in_ids = items.c.id.in_(listed)
        else:
            in_ids = items.c.id == func.any(bindparam("ids", type_=ARRAY(ID_TYPE)))
        self.items_found = sql(
            select(items.c.id).where(items.c.thread_id == _id("thread_id"), in_ids)
        )
        self.add_feedback = sql(
            feedback.insert().values(
                thread_id=_id("thread_id"),
                user_id=_id("user_id"),
                item_ids=bindparam("item_ids", type_=feedback.c.item_ids.type),
                kind=bindparam("kind", type_=feedback.c.kind.type),
                created_at=bindparam("created_at", type_=UTCDateTime()),
            )
        )

        # admin
        self.count_rows = sql(
            select(
                *(
                    select(func.count()).select_from(table).scalar_subquery().label(table.name)
                    for table in (threads, items, attachments, feedback)
                )
            )
        )

    def compile(self, statement: ClauseElement) -> SQL:
        return compile_sql(statement, self._dialect)

    @functools.cache  # noqa: B019 - four variants per dialect, kept for the process
    def admin_threads(self, by_user: bool, before: bool) -> SQL:
        query = select(threads.c.user_id, threads.c.data)
        if by_user:
            query = query.where(threads.c.user_id == _id("user_id"))
        if before:
            query = query.where(threads.c.created_at < bindparam("before", type_=UTCDateTime()))
        query = query.order_by(threads.c.created_at.desc(), threads.c.id.desc())
        return self.compile(query.limit(bindparam("limit")))


@functools.cache
def statements_for(dialect: DialectName) -> Statements:
    """The statements of one dialect, compiled on first use and kept."""
    return Statements(dialect)
