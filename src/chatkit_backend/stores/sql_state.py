"""The SQL of a thread's state for ``SQLStore``: metadata updates and reply leases.

``ThreadUpdate`` (``stores/thread_updates.py``) is applied to the stored row inside one
transaction that reads the row for update (``SELECT ... FOR UPDATE`` on PostgreSQL;
SQLite's ``BEGIN IMMEDIATE`` holds the write lock from the start) and writes it back, so
no other writer slips in between. Leases (``stores/leases.py``) are one statement per
call on ``chatkit_thread_leases``. Statements are SQLAlchemy Core, compiled once per
dialect, like ``stores/statements.py``.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chatkit.types import ThreadMetadata
from sqlalchemy import (
    ColumnElement,
    Interval,
    bindparam,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from chatkit_backend.stores import codec
from chatkit_backend.stores.connections import Database
from chatkit_backend.stores.errors import StoreNotFoundError
from chatkit_backend.stores.leases import LeaseState
from chatkit_backend.stores.schema import ID_TYPE, UTCDateTime, thread_leases, threads
from chatkit_backend.stores.statements import DialectName, compile_sql, db_time, dialect_of
from chatkit_backend.stores.thread_updates import ThreadUpdate


class StateStatements:
    """The statements of one dialect (see ``stores/leases.py`` for the clocks)."""

    def __init__(self, dialect: DialectName) -> None:
        self.dialect = dialect
        compiled = dialect_of(dialect)

        # thread metadata
        theirs = (threads.c.id == bindparam("id", type_=ID_TYPE)) & (
            threads.c.user_id == bindparam("user_id", type_=ID_TYPE)
        )
        locked = select(threads.c.data).where(theirs)
        if dialect == "postgresql":
            locked = locked.with_for_update()
        self.thread_for_update = compile_sql(locked, compiled)
        self.write_thread = compile_sql(
            update(threads).where(theirs).values(data=bindparam("data", type_=threads.c.data.type)),
            compiled,
        )
        self.thread_owner = compile_sql(
            select(threads.c.user_id).where(threads.c.id == bindparam("id", type_=ID_TYPE)),
            compiled,
        )

        # leases
        leases = thread_leases
        now: ColumnElement[Any]
        until: ColumnElement[Any]
        if dialect == "postgresql":
            now = func.now()
            until = func.now() + bindparam("ttl", type_=Interval())
        else:
            now = bindparam("now", type_=UTCDateTime())
            until = bindparam("until", type_=UTCDateTime())
        owned = exists().where(
            threads.c.id == bindparam("thread_id", type_=ID_TYPE),
            threads.c.user_id == bindparam("user_id", type_=ID_TYPE),
        )
        row = select(
            bindparam("thread_id", type_=ID_TYPE),
            bindparam("holder", type_=leases.c.holder.type),
            bindparam("request_id", type_=leases.c.request_id.type),
            until,
            literal(False),
        ).where(owned)
        insert = (sqlite_insert if dialect == "sqlite" else postgres_insert)(leases)
        insert = insert.from_select(
            ["thread_id", "holder", "request_id", "expires_at", "stop_requested"], row
        )
        acquire = insert.on_conflict_do_update(
            index_elements=[leases.c.thread_id],
            set_={
                "holder": insert.excluded.holder,
                "request_id": insert.excluded.request_id,
                "expires_at": insert.excluded.expires_at,
                "stop_requested": insert.excluded.stop_requested,
            },
            # Another holder's lease stands until it expires; the same holder may retry.
            where=or_(leases.c.expires_at < now, leases.c.holder == insert.excluded.holder),
        ).returning(leases.c.holder)
        self.acquire = compile_sql(acquire, compiled)
        mine = (leases.c.thread_id == bindparam("thread_id", type_=ID_TYPE)) & (
            leases.c.holder == bindparam("holder", type_=leases.c.holder.type)
        )
        self.renew = compile_sql(
            update(leases).where(mine).values(expires_at=until).returning(leases.c.stop_requested),
            compiled,
        )
        self.release = compile_sql(delete(leases).where(mine), compiled)
        users = exists().where(
            threads.c.id == leases.c.thread_id,
            threads.c.user_id == bindparam("user_id", type_=ID_TYPE),
        )
        self.request_stop = compile_sql(
            update(leases)
            .where(
                leases.c.request_id == bindparam("request_id", type_=leases.c.request_id.type),
                leases.c.expires_at > now,
                users,
            )
            .values(stop_requested=true())
            .returning(leases.c.thread_id),
            compiled,
        )

    def clock(self, ttl: float) -> dict[str, Any]:
        """The time parameters of a lease statement: ``ttl`` on PostgreSQL, ``now`` and
        ``until`` on SQLite (this host's clock, as the stored text)."""
        if self.dialect == "postgresql":
            return {"ttl": timedelta(seconds=ttl)}
        now = datetime.now(UTC)
        as_text = db_time("sqlite")
        return {"now": as_text(now), "until": as_text(now + timedelta(seconds=ttl))}


_COMPILED: dict[str, StateStatements] = {}


def state_statements(dialect: DialectName) -> StateStatements:
    """The statements of one dialect, compiled on first use and kept."""
    if dialect not in _COMPILED:
        _COMPILED[dialect] = StateStatements(dialect)
    return _COMPILED[dialect]


async def update_thread(
    db: Database, sql: StateStatements, thread_id: str, owner: str, change: ThreadUpdate
) -> ThreadMetadata:
    """Apply ``change`` to the owner's thread in one transaction; the thread as stored after.

    Raises ``StoreNotFoundError`` for a thread the owner does not have.
    """
    async with db.transaction() as tx:
        rows = await tx.fetch(
            sql.thread_for_update.text, sql.thread_for_update.args(id=thread_id, user_id=owner)
        )
        if not rows:
            raise StoreNotFoundError(f"thread {thread_id!r} not found")
        stored = codec.load_thread(rows[0][0])
        updated = change.apply(stored)
        if updated != stored:
            await tx.fetch(
                sql.write_thread.text,
                sql.write_thread.args(id=thread_id, user_id=owner, data=codec.dump_thread(updated)),
            )
    return updated


@dataclass(frozen=True, slots=True)
class SQLLeases:
    """The lease calls on one pool (``SQLStore``'s); see ``stores/leases.py``."""

    db: Database
    sql: StateStatements

    async def acquire(
        self, thread_id: str, holder: str, owner: str, ttl: float, request_id: str | None
    ) -> bool:
        statement = self.sql.acquire
        args = statement.args(
            thread_id=thread_id,
            holder=holder,
            user_id=owner,
            request_id=request_id,
            **self.sql.clock(ttl),
        )
        return bool(await self.db.write(statement.text, args))

    async def renew(self, thread_id: str, holder: str, ttl: float) -> LeaseState:
        statement = self.sql.renew
        args = statement.args(thread_id=thread_id, holder=holder, **self.sql.clock(ttl))
        rows = await self.db.write(statement.text, args)
        if not rows:
            return LeaseState(held=False)
        return LeaseState(held=True, stop_requested=bool(rows[0][0]))

    async def release(self, thread_id: str, holder: str) -> None:
        statement = self.sql.release
        await self.db.write(statement.text, statement.args(thread_id=thread_id, holder=holder))

    async def request_stop(self, request_id: str, owner: str) -> bool:
        statement = self.sql.request_stop
        args = statement.args(request_id=request_id, user_id=owner, **self.sql.clock(0))
        return bool(await self.db.write(statement.text, args))
