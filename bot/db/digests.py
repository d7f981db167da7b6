"""What a digest reads about runs: counts by playbook and outcome over a period, failures
and rollbacks, approvals pending and expired, the slowest runs; and the runs an alert rule
watches. Read-only, on one connection (one snapshot on PostgreSQL).

On a million runs every read takes an index (migration 0007): counts walk
``ix_runs_status_playbook_created`` in its own order, so grouping needs no sort, and the
slowest runs come off ``ix_runs_duration``. SQLite plans without statistics: it is kept off
the index of ``parent_run_id`` (nearly every run's is NULL), and when the period holds a
large share of the stored runs, off ``created_at``'s too, so it takes those two instead of
sorting what the period holds. PostgreSQL's planner has statistics of its own.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.db.records import RunRecord, as_utc
from bot.db.statements import RUNS
from bot.db.tables import run_duration
from bot.lifecycle import RunStatus

__all__ = ["DigestFacts", "DigestQueries", "RunTally"]

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
            sqlite = self.engine.dialect.name == "sqlite"
            wide = sqlite and await self._wide(connection, start, end)
            created = _unindexed(RUNS.c.created_at) if wide else RUNS.c.created_at
            parent = _unindexed(RUNS.c.parent_run_id) if sqlite else RUNS.c.parent_run_id
            top_level = parent.is_(None)
            # Dry runs are history, not runs: the digest counts what ran (or was asked to).
            in_period = and_(created >= start, created < end, top_level, RUNS.c.dry_run.is_(False))
            tallies = await connection.execute(
                select(RUNS.c.playbook, RUNS.c.status, func.count())
                .where(in_period)
                .group_by(RUNS.c.status, RUNS.c.playbook)
            )
            newest = (RUNS.c.created_at.desc(), RUNS.c.id.desc())
            failures = await _listed(
                connection, and_(in_period, RUNS.c.status.in_(FAILED)), newest, items
            )
            waiting = and_(
                RUNS.c.status == RunStatus.PENDING.value, RUNS.c.needs_approval.is_(True), top_level
            )
            pending = await _listed(connection, waiting, (RUNS.c.created_at, RUNS.c.id), items)
            pending_total = (
                await connection.execute(select(func.count()).select_from(RUNS).where(waiting))
            ).scalar_one()
            expired = await _listed(
                connection, and_(in_period, RUNS.c.status == RunStatus.EXPIRED.value), newest, items
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
        """Whether ``[start, end)`` holds a large share of the stored runs (judged from the
        oldest run's time, one index lookup)."""
        oldest = as_utc(
            (await connection.execute(select(func.min(RUNS.c.created_at)))).scalar_one_or_none()
        )
        if oldest is None or oldest >= end:
            return False
        span = (end - oldest).total_seconds()
        covered = (end - max(start, oldest)).total_seconds()
        return span <= 0 or covered / span >= _WIDE


def _unindexed(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """``column`` behind SQLite's unary ``+``, which keeps a term off the indexes: without
    statistics SQLite takes ``parent_run_id IS NULL`` (true of nearly every run) for a
    selective lookup, and a wide period's ``created_at`` range for one."""
    return literal_column(f"+runs.{column.name}", column.type)


async def _listed(
    connection: AsyncConnection,
    where: ColumnElement[bool],
    order: tuple[ColumnElement[Any], ...],
    items: int,
) -> list[RunRecord]:
    """The first ``items`` runs by ``order``: chosen on the index alone, then read whole (a
    sort of whole rows would read every matching run's row, thousands for a few shown)."""
    chosen = select(RUNS.c.id).where(where).order_by(*order).limit(items)
    ids = [row.id for row in await connection.execute(chosen)]
    if not ids:
        return []
    rows = await _runs(connection, select(RUNS).where(RUNS.c.id.in_(ids)))
    position = {run_id: index for index, run_id in enumerate(ids)}
    return sorted(rows, key=lambda run: position[run.id])


async def _runs(connection: AsyncConnection, query: Any) -> list[RunRecord]:
    return [RunRecord.from_row(row) for row in await connection.execute(query)]
