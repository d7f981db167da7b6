"""the digest's index covers dry runs

The digest leaves dry runs out of its tallies; with ``dry_run`` outside the index it read
every run of the period from the table (five times the time over a million runs on SQLite).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 12:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_NAME = "ix_runs_status_playbook_created"
_BEFORE = ["status", "playbook", "created_at", "parent_run_id", "needs_approval"]


def upgrade() -> None:
    op.drop_index(_NAME, table_name="runs")
    op.create_index(_NAME, "runs", [*_BEFORE, "dry_run"], unique=False)


def downgrade() -> None:
    op.drop_index(_NAME, table_name="runs")
    op.create_index(_NAME, "runs", _BEFORE, unique=False)
