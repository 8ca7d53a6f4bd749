"""Create the thread, item, attachment and feedback tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id(name: str, *args: sa.ForeignKey, nullable: bool) -> sa.Column[str]:
    """An id column; collation "C" on PostgreSQL so ids compare byte by byte everywhere."""
    id_type = sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql")
    return sa.Column(name, id_type, *args, nullable=nullable)


def _time(name: str) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def _thread_fk(table: str) -> sa.ForeignKey:
    return sa.ForeignKey(
        "chatkit_threads.id", ondelete="CASCADE", name=f"fk_{table}_thread_id_chatkit_threads"
    )


def upgrade() -> None:
    op.create_table(
        "chatkit_threads",
        _id("id", nullable=False),
        _id("user_id", nullable=False),
        _time("created_at"),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chatkit_threads"),
    )
    op.create_index(
        "ix_chatkit_threads_user_id_created_at_id",
        "chatkit_threads",
        ["user_id", "created_at", "id"],
    )
    op.create_index("ix_chatkit_threads_created_at", "chatkit_threads", ["created_at"])

    op.create_table(
        "chatkit_items",
        _id("thread_id", _thread_fk("chatkit_items"), nullable=False),
        _id("id", nullable=False),
        _time("created_at"),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("thread_id", "id", name="pk_chatkit_items"),
    )
    op.create_index(
        "ix_chatkit_items_thread_id_created_at_id",
        "chatkit_items",
        ["thread_id", "created_at", "id"],
    )

    op.create_table(
        "chatkit_attachments",
        _id("id", nullable=False),
        _id("user_id", nullable=False),
        _id("thread_id", _thread_fk("chatkit_attachments"), nullable=True),
        _time("created_at"),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chatkit_attachments"),
    )
    op.create_index("ix_chatkit_attachments_user_id", "chatkit_attachments", ["user_id"])
    op.create_index("ix_chatkit_attachments_thread_id", "chatkit_attachments", ["thread_id"])
    op.create_index("ix_chatkit_attachments_created_at", "chatkit_attachments", ["created_at"])

    op.create_table(
        "chatkit_feedback",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        _id("thread_id", _thread_fk("chatkit_feedback"), nullable=False),
        _id("user_id", nullable=False),
        sa.Column("item_ids", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_chatkit_feedback"),
    )
    op.create_index(
        "ix_chatkit_feedback_thread_id_created_at", "chatkit_feedback", ["thread_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("chatkit_feedback")
    op.drop_table("chatkit_attachments")
    op.drop_table("chatkit_items")
    op.drop_table("chatkit_threads")
