"""Add the usage table: one row per reply, with its model and token counts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    id_type = sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql")
    op.create_table(
        "chatkit_usage",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", id_type, nullable=False),
        sa.Column("tenant_id", id_type, nullable=True),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("thread_id", id_type, nullable=False),
        sa.Column("item_id", id_type, nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chatkit_usage"),
    )
    op.create_index("ix_chatkit_usage_user_id_day", "chatkit_usage", ["user_id", "day"])
    op.create_index("ix_chatkit_usage_tenant_id_day", "chatkit_usage", ["tenant_id", "day"])
    op.create_index("ix_chatkit_usage_day", "chatkit_usage", ["day"])


def downgrade() -> None:
    op.drop_table("chatkit_usage")
