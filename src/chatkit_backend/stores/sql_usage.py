"""The SQL of ``SQLStore`` for usage records and feedback read back across users.

Statements are SQLAlchemy Core on the tables of ``schema.py``, compiled once per dialect
and shape (which filters a query has, which keys it groups by), like
``stores/statements.py``. Days are ``YYYY-MM-DD`` text (UTC), so they compare and group
the same way on SQLite and PostgreSQL.
"""

import functools
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, select

from chatkit_backend.stores.base import Feedback
from chatkit_backend.stores.connections import Database
from chatkit_backend.stores.schema import ID_TYPE, UTCDateTime, feedback, usage
from chatkit_backend.stores.statements import (
    SQL,
    DialectName,
    compile_sql,
    db_time,
    dialect_of,
    read_time,
)
from chatkit_backend.stores.usage import (
    FeedbackQuery,
    UsageKey,
    UsageQuery,
    UsageRecord,
    UsageTotal,
)

GROUP_COLUMNS: dict[UsageKey, Any] = {
    "day": usage.c.day,
    "user": usage.c.user_id,
    "tenant": usage.c.tenant_id,
    "model": usage.c.model,
}
TOKEN_COLUMNS = ("requests", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens")


@functools.cache
def insert_usage(dialect: DialectName) -> SQL:
    values = {
        column.name: bindparam(column.name, type_=column.type)
        for column in usage.columns
        if column.name != "id"
    }
    return compile_sql(usage.insert().values(**values), dialect_of(dialect))


@functools.cache
def usage_totals(
    dialect: DialectName,
    by: tuple[UsageKey, ...],
    user: bool,
    tenant: bool,
    since: bool,
    until: bool,
) -> SQL:
    """``SELECT <keys>, count(*), sum(...) ... GROUP BY <keys> ORDER BY <keys>``."""
    keys = [GROUP_COLUMNS[key] for key in by]
    sums = [func.coalesce(func.sum(usage.c[name]), 0) for name in TOKEN_COLUMNS]
    query: Select[Any] = select(*keys, func.count(), *sums)
    conditions: list[ColumnElement[bool]] = []
    if user:
        conditions.append(usage.c.user_id == bindparam("user_id", type_=ID_TYPE))
    if tenant:
        conditions.append(usage.c.tenant_id == bindparam("tenant_id", type_=ID_TYPE))
    if since:
        conditions.append(usage.c.day >= bindparam("since", type_=usage.c.day.type))
    if until:
        conditions.append(usage.c.day <= bindparam("until", type_=usage.c.day.type))
    if conditions:
        query = query.where(*conditions)
    if keys:
        query = query.group_by(*keys).order_by(*keys)
    return compile_sql(query, dialect_of(dialect))


@functools.cache
def feedback_rows(dialect: DialectName, user: bool, kind: bool, since: bool, limited: bool) -> SQL:
    query: Select[Any] = select(
        feedback.c.thread_id,
        feedback.c.item_ids,
        feedback.c.kind,
        feedback.c.user_id,
        feedback.c.created_at,
    )
    if user:
        query = query.where(feedback.c.user_id == bindparam("user_id", type_=ID_TYPE))
    if kind:
        query = query.where(feedback.c.kind == bindparam("kind", type_=feedback.c.kind.type))
    if since:
        query = query.where(feedback.c.created_at >= bindparam("since", type_=UTCDateTime()))
    query = query.order_by(feedback.c.created_at, feedback.c.id)
    if limited:
        query = query.limit(bindparam("limit"))
    return compile_sql(query, dialect_of(dialect))


async def save_usage(db: Database, dialect: DialectName, record: UsageRecord) -> None:
    statement = insert_usage(dialect)
    time: Callable[[datetime], Any] = db_time(dialect)
    await db.write(
        statement.text,
        statement.args(
            user_id=record.user_id,
            tenant_id=record.tenant_id,
            day=record.day,
            created_at=time(record.created_at),
            thread_id=record.thread_id,
            item_id=record.item_id,
            request_id=record.request_id,
            model=record.model,
            outcome=record.outcome,
            requests=record.requests,
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
            cached_tokens=record.cached_tokens,
            reasoning_tokens=record.reasoning_tokens,
        ),
        idempotent=False,  # an insert: never run twice
    )


async def admin_usage(db: Database, dialect: DialectName, query: UsageQuery) -> list[UsageTotal]:
    by = tuple(query.by)
    statement = usage_totals(
        dialect,
        by,
        query.user_id is not None,
        query.tenant_id is not None,
        query.since is not None,
        query.until is not None,
    )
    rows = await db.read(
        statement.text,
        statement.args(
            user_id=query.user_id,
            tenant_id=query.tenant_id,
            since=query.since.isoformat() if query.since is not None else None,
            until=query.until.isoformat() if query.until is not None else None,
        ),
    )
    totals = []
    for row in rows:
        keys = dict(zip(by, row[: len(by)], strict=True))
        replies, requests, input_tokens, output_tokens, cached, reasoning = row[len(by) :]
        if not replies:
            continue  # no keys, no rows: the one aggregate row of nothing
        totals.append(
            UsageTotal(
                day=keys.get("day"),
                user_id=keys.get("user"),
                tenant_id=keys.get("tenant"),
                model=keys.get("model"),
                replies=int(replies),
                requests=int(requests),
                input_tokens=int(input_tokens),
                output_tokens=int(output_tokens),
                cached_tokens=int(cached),
                reasoning_tokens=int(reasoning),
            )
        )
    return totals


async def admin_feedback(
    db: Database, dialect: DialectName, query: FeedbackQuery
) -> list[Feedback]:
    statement = feedback_rows(
        dialect,
        query.user_id is not None,
        query.kind is not None,
        query.since is not None,
        query.limit is not None,
    )
    rows = await db.read(
        statement.text,
        statement.args(
            user_id=query.user_id,
            kind=query.kind,
            since=db_time(dialect)(query.since) if query.since is not None else None,
            limit=query.limit,
        ),
    )
    return [feedback_of(row) for row in rows]


def feedback_of(row: Any) -> Feedback:
    """A ``Feedback`` from a feedback row selected as (thread_id, item_ids JSON, kind,
    user_id, created_at): what every feedback statement selects."""
    return Feedback(
        thread_id=row[0],
        item_ids=json.loads(row[1]),
        kind=row[2],
        user_id=row[3],
        created_at=read_time(row[4]),
    )
