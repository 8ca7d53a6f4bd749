"""The SQL schema (SQLAlchemy Core): four tables, named constraints, UTC timestamps.

Each row keeps the SDK model as JSON in ``data`` beside the columns the store queries
on; the Alembic revisions in ``migrations/versions`` create exactly this schema (a test
compares them). A fifth table, ``chatkit_thread_leases``, holds no data: one row per
thread while a reply streams on it (``stores/leases.py``); ``db copy`` skips it
(``info={"transient": True}``). ``chatkit_usage`` holds one row per reply: its model and
token counts (``observability/usage.py``); it has no foreign key, so a reply's usage
outlives its thread.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator

from chatkit_backend.stores.base import as_utc

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
VERSION_TABLE = "chatkit_schema_version"

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database; naive input is taken as UTC.

    PostgreSQL stores ``timestamptz``. SQLite has no time zones, so the UTC wall time is
    stored (SQLAlchemy's fixed-width text, which sorts in time order).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return as_utc(value)


# Ids compare byte by byte (collation "C" on PostgreSQL, SQLite's default), so ties on
# created_at break in the same order on every store, whatever the database's locale.
ID_TYPE = String(255).with_variant(String(255, collation="C"), "postgresql")


def _id(name: str, *args: Any, **kwargs: Any) -> Column[str]:
    return Column(name, ID_TYPE, *args, **kwargs)


threads = Table(
    "chatkit_threads",
    metadata,
    _id("id", primary_key=True),
    _id("user_id", nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("data", Text, nullable=False),
    Index("ix_chatkit_threads_user_id_created_at_id", "user_id", "created_at", "id"),
    Index("ix_chatkit_threads_created_at", "created_at"),
)

items = Table(
    "chatkit_items",
    metadata,
    _id("thread_id", ForeignKey("chatkit_threads.id", ondelete="CASCADE"), primary_key=True),
    _id("id", primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("type", String(64), nullable=False),
    Column("data", Text, nullable=False),
    Index("ix_chatkit_items_thread_id_created_at_id", "thread_id", "created_at", "id"),
)

attachments = Table(
    "chatkit_attachments",
    metadata,
    _id("id", primary_key=True),
    _id("user_id", nullable=False),
    _id("thread_id", ForeignKey("chatkit_threads.id", ondelete="CASCADE"), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("data", Text, nullable=False),
    Index("ix_chatkit_attachments_user_id", "user_id"),
    Index("ix_chatkit_attachments_thread_id", "thread_id"),
    Index("ix_chatkit_attachments_created_at", "created_at"),
)

feedback = Table(
    "chatkit_feedback",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    _id("thread_id", ForeignKey("chatkit_threads.id", ondelete="CASCADE"), nullable=False),
    _id("user_id", nullable=False),
    Column("item_ids", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_chatkit_feedback_thread_id_created_at", "thread_id", "created_at"),
)

thread_leases = Table(
    "chatkit_thread_leases",
    metadata,
    # No foreign key: a lease outlives nothing (it is released when the reply ends, or
    # expires), and leaving the threads table unreferenced keeps TRUNCATE and deletes simple.
    _id("thread_id", primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("request_id", String(128), nullable=True),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("stop_requested", Boolean(), nullable=False),
    Index("ix_chatkit_thread_leases_request_id", "request_id"),
    info={"transient": True},
)
"""While a reply streams on a thread: who holds it, until when (renewed as it streams), the
request it answers, and whether its user asked it to stop (``stores/leases.py``)."""

usage = Table(
    "chatkit_usage",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    # No foreign key: usage is what was spent, and stays when its thread is deleted.
    _id("user_id", nullable=False),
    _id("tenant_id", nullable=True),
    Column("day", String(10), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    _id("thread_id", nullable=False),
    _id("item_id", nullable=True),
    Column("request_id", String(128), nullable=True),
    Column("model", String(255), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("requests", Integer(), nullable=False),
    Column("input_tokens", BigInteger(), nullable=False),
    Column("output_tokens", BigInteger(), nullable=False),
    Column("cached_tokens", BigInteger(), nullable=False),
    Column("reasoning_tokens", BigInteger(), nullable=False),
    Index("ix_chatkit_usage_user_id_day", "user_id", "day"),
    Index("ix_chatkit_usage_tenant_id_day", "tenant_id", "day"),
    Index("ix_chatkit_usage_day", "day"),
)
"""One row per reply: who (the owner, and the tenant), when (``day`` is its UTC date,
``YYYY-MM-DD``), on which thread and model, how it ended, and the tokens the model server
counted (``cached`` are part of ``input``, ``reasoning`` part of ``output``)."""
