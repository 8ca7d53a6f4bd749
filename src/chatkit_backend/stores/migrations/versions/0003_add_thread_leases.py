"""Add the thread lease table: one reply at a time per thread, across processes and hosts.

On PostgreSQL the table is ``UNLOGGED``: a lease is worth nothing after a database crash
(its holder's connection is gone too), and not logging it spares each reply two waits
for the disk (acquire and release commit without a WAL flush: ~15 ms less per reply on
a busy disk).

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    id_type = sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql")
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "chatkit_thread_leases",
        sa.Column("thread_id", id_type, nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stop_requested", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("thread_id", name="pk_chatkit_thread_leases"),
        prefixes=["UNLOGGED"] if postgresql else [],
    )
    op.create_index("ix_chatkit_thread_leases_request_id", "chatkit_thread_leases", ["request_id"])


def downgrade() -> None:
    op.drop_table("chatkit_thread_leases")
