"""callback tokens

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callback_tokens",
        sa.Column("token", AutoString(length=64), nullable=False),
        sa.Column("surface", AutoString(length=32), nullable=False),
        sa.Column("chat", AutoString(length=200), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("action", AutoString(length=16), nullable=False),
        sa.Column("step", AutoString(length=64), nullable=False),
        sa.Column("asked", AutoString(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token"),
    )
    with op.batch_alter_table("callback_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_callback_tokens_created_at"), ["created_at"])
        batch_op.create_index(batch_op.f("ix_callback_tokens_run_id"), ["run_id"])


def downgrade() -> None:
    with op.batch_alter_table("callback_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callback_tokens_run_id"))
        batch_op.drop_index(batch_op.f("ix_callback_tokens_created_at"))

    op.drop_table("callback_tokens")
