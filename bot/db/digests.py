"""What a digest reads about runs: counts by playbook and outcome over a period, failures
and rollbacks, approvals pending and expired, the slowest runs; and the runs an alert rule
watches. Read-only, on one connection (one snapshot on PostgreSQL).

On a million runs every read takes an index (migration 0007): counts walk
``ix_runs_status_playbook_created`` in its own order, so grouping needs no sort, and the
slowest runs come off ``ix_runs_duration``. SQLite plans without statistics: when the period
holds a large share of the stored runs it is told (a ``+`` on ``created_at`` keeps it off
that column's index) to take those two instead of sorting what the period holds.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.db.records import RunRecord, as_utc
from bot.db.tables import RunRow, run_duration
from bot.lifecycle import RunStatus

__all__ = ["DigestFacts", "DigestQueries", "RunTally"]

RUNS: Table = RunRow.__table__  # type: ignore[attr-defined]
FAILED = (RunStatus.FAILED.value, RunStatus.ROLLED_BACK.value)
# The share of the stored runs a period must hold before SQLite walks the whole of the
# digest's indexes rather than the period's slice of the created_at index (measured:
# grouping or sorting that slice costs about as much as a walk at ~15%).
_WIDE = 0.15


@dataclass(frozen=True)
class RunTally:
    playbook: str
    status: RunStatus
    count: int


@dataclass(frozen=True)
class DigestFacts:
    """Top-level runs created in ``[start, end)``, and approvals pending now."""

    start: datetime
    end: datetime
    tallies: list[RunTally]
    failures: list[RunRecord]  # failed or rolled back, newest first
    pending: list[RunRecord]  # waiting for approval now, oldest first
    pending_total: int
    expired: list[RunRecord]  # expired before approval, newest first
    slowest: list[RunRecord]


class DigestQueries:
    """Reads over the store's engine (``Store.engine``)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def facts(self, start: datetime, end: datetime, *, items: int = 5) -> DigestFacts:
        async with self.engine.connect() as connection:
            if self.engine.dialect.name == "postgresql":
                await connection.execution_options(isolation_level="REPEATABLE READ")
            wide = await self._wide(connection, start, end)
            created = _created(wide)
            in_period = and_(created >= start, created < end, RUNS.c.parent_run_id.is_(None))
            tallies = await connection.execute(
                select(RUNS.c.playbook, RUNS.c.status, func.count())
                .where(in_period)
                .group_by(RUNS.c.status, RUNS.c.playbook)
            )
            failures = await _runs(
                connection,
                select(RUNS)
                .where(in_period, RUNS.c.status.in_(FAILED))
                .order_by(RUNS.c.created_at.desc(), RUNS.c.id.desc())
                .limit(items),
            )
            waiting = and_(
                RUNS.c.status == RunStatus.PENDING.value,
                RUNS.c.needs_approval.is_(True),
                RUNS.c.parent_run_id.is_(None),
            )
            pending = await _runs(
                connection,
                select(RUNS).where(waiting).order_by(RUNS.c.created_at, RUNS.c.id).limit(items),
            )
            pending_total = (
                await connection.execute(select(func.count()).select_from(RUNS).where(waiting))
            ).scalar_one()
            expired = await _runs(
                connection,
                select(RUNS)
                .where(in_period, RUNS.c.status == RunStatus.EXPIRED.value)
                .order_by(RUNS.c.created_at.desc(), RUNS.c.id.desc())
                .limit(items),
            )
            duration = run_duration(RUNS.c.finished_at, RUNS.c.started_at)
            slowest = await _runs(
                connection,
                select(RUNS)
                .where(in_period, duration.is_not(None))
                .order_by(duration.desc())
                .limit(items),
            )
        return DigestFacts(
            start=start,
            end=end,
            tallies=[RunTally(row[0], RunStatus(row[1]), int(row[2])) for row in tallies],
            failures=failures,
            pending=pending,
            pending_total=int(pending_total),
            expired=expired,
            slowest=slowest,
        )

    async def ended_runs(
        self,
        *,
        playbooks: Collection[str],
        statuses: Collection[str],
        after: datetime,
        until: datetime,
        limit: int = 50,
    ) -> list[RunRecord]:
        """Runs of ``playbooks`` that ended in one of ``statuses`` in ``(after, until]``,
        oldest first (sub-playbook runs too: a rule names what it watches)."""
        query = (
            select(RUNS)
            .where(
                RUNS.c.status.in_(list(statuses)),
                RUNS.c.playbook.in_(list(playbooks)),
                RUNS.c.finished_at > after,
                RUNS.c.finished_at <= until,
            )
            .order_by(RUNS.c.finished_at, RUNS.c.id)
            .limit(limit)
        )
        async with self.engine.connect() as connection:
            return await _runs(connection, query)

    async def _wide(self, connection: AsyncConnection, start: datetime, end: datetime) -> bool:
        """On SQLite: whether ``[start, end)`` holds a large share of the stored runs
        (judged from the oldest run's time, one index lookup)."""
        if self.engine.dialect.name != "sqlite":
            return False  # PostgreSQL's planner has statistics of its own
        oldest = as_utc(
            (await connection.execute(select(func.min(RUNS.c.created_at)))).scalar_one_or_none()
        )
        if oldest is None or oldest >= end:
            return False
        span = (end - oldest).total_seconds()
        covered = (end - max(start, oldest)).total_seconds()
        return span <= 0 or covered / span >= _WIDE


def _created(wide: bool) -> ColumnElement[Any]:
    # SQLite's unary `+` keeps a term off the indexes: the planner then walks the digest's
    # indexes in their order instead of sorting the period's slice of ix_runs_created_at.
    return literal_column("+runs.created_at", RUNS.c.created_at.type) if wide else RUNS.c.created_at


async def _runs(connection: AsyncConnection, query: Any) -> list[RunRecord]:
    return [RunRecord.from_row(row) for row in await connection.execute(query)]
