"""the scheduler: schedule states and fires, alert rule states, and the runs' digest indexes

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# bot.db.tables.run_duration, as each database indexes it. An index on an expression is not
# reflected on SQLite, so a later batch migration that copies `runs` must create it again.
_DURATION = {
    "sqlite": "julianday(finished_at) - julianday(started_at)",
    "postgresql": "(finished_at - started_at)",
}


def upgrade() -> None:
    op.create_table(
        "schedule_states",
        sa.Column("schedule_id", AutoString(length=64), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("changed_by", AutoString(length=200), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("schedule_id"),
    )
    op.create_table(
        "schedule_fires",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", AutoString(length=64), nullable=False),
        sa.Column("fire_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("manual", sa.Boolean(), nullable=False),
        sa.Column("requested_by", AutoString(length=200), nullable=False),
        sa.Column("owner", AutoString(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", AutoString(length=16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule_id", "fire_time", "manual", name="uq_schedule_fires_once"),
    )
    op.create_table(
        "alert_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", AutoString(length=64), nullable=False),
        sa.Column("level", AutoString(length=16), nullable=False),
        sa.Column("bad", sa.Boolean(), nullable=False),
        sa.Column("bad_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rule_id", name="uq_alert_states_rule"),
    )
    op.create_index(
        "ix_runs_status_playbook_created",
        "runs",
        ["status", "playbook", "created_at", "parent_run_id", "needs_approval"],
        unique=False,
    )
    op.create_index("ix_runs_playbook_id", "runs", ["playbook", "id"], unique=False)
    dialect = op.get_bind().dialect.name
    duration = _DURATION.get(dialect, _DURATION["postgresql"])
    op.create_index("ix_runs_duration", "runs", [sa.text(duration)], unique=False)


def downgrade() -> None:
    op.drop_index("ix_runs_duration", table_name="runs")
    op.drop_index("ix_runs_playbook_id", table_name="runs")
    op.drop_index("ix_runs_status_playbook_created", table_name="runs")
    op.drop_table("alert_states")
    op.drop_table("schedule_fires")
    op.drop_table("schedule_states")
