"""opened forms

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "opened_forms",
        sa.Column("form_id", AutoString(length=200), nullable=False),
        sa.Column("surface", AutoString(length=32), nullable=False),
        sa.Column("opened_for", AutoString(length=200), nullable=False),
        sa.Column("kind", AutoString(length=64), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("form_id"),
    )
    with op.batch_alter_table("opened_forms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_opened_forms_opened_at"), ["opened_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("opened_forms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_opened_forms_opened_at"))

    op.drop_table("opened_forms")
