"""approval reminders and step gates

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 11:10:30.559653
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("step_results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("step_results", schema=None) as batch_op:
        batch_op.drop_column("reminded_at")
        batch_op.drop_column("expires_at")

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("reminded_at")
