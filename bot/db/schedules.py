"""Schedules in the database: each fire recorded once, and who paused what.

Every replica schedules the same jobs from the config (APScheduler's job stores are in
memory, never shared); the database decides which replica runs a fire. A fire is a row
under the unique key (schedule, fire time, manual): only the process whose insert wins
runs the job, then records its outcome, summary and duration on that row. A paused
schedule's scheduled fires are not claimed at all (a manual ``/schedule run`` still is).
Pausing and resuming are audited.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.chat import Actor
from bot.db.records import as_utc
from bot.db.statements import AUDIT
from bot.db.tables import ScheduleFireRow, ScheduleStateRow, metadata, utcnow

__all__ = ["FireRecord", "ScheduleState", "ScheduleStore"]

FIRES = metadata.tables[ScheduleFireRow.__tablename__]
STATES = metadata.tables[ScheduleStateRow.__tablename__]

RUNNING, OK, FAILED = "running", "ok", "failed"
# Fires older than this are dropped as new ones are recorded (the newest of each schedule
# is always kept: `/schedule list` shows it, and a digest compares against it).
KEEP_FIRES = timedelta(days=90)


@dataclass(frozen=True)
class FireRecord:
    id: int
    schedule_id: str
    fire_time: datetime
    manual: bool
    requested_by: str
    owner: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    summary: str
    duration_ms: int | None
    result: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Any) -> FireRecord:
        return cls(
            id=row.id,
            schedule_id=row.schedule_id,
            fire_time=as_utc(row.fire_time) or row.fire_time,
            manual=row.manual,
            requested_by=row.requested_by,
            owner=row.owner,
            started_at=as_utc(row.started_at) or row.started_at,
            finished_at=as_utc(row.finished_at),
            outcome=row.outcome,
            summary=row.summary,
            duration_ms=row.duration_ms,
            result=dict(row.result or {}),
        )


@dataclass(frozen=True)
class ScheduleState:
    schedule_id: str
    paused: bool
    changed_by: str
    changed_at: datetime | None


class ScheduleStore:
    """Fires and pause states over the store's engine (``Store.engine``)."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self._now = clock

    def _insert(self, table: Table) -> Any:
        """INSERT … ON CONFLICT DO NOTHING for this engine's database."""
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table).on_conflict_do_nothing()

    async def claim(
        self,
        schedule_id: str,
        fire_time: datetime,
        *,
        owner: str,
        manual: bool = False,
        requested_by: Actor | None = None,
    ) -> FireRecord | None:
        """Record that this process runs ``schedule_id``'s fire at ``fire_time``; None if
        another process (or an earlier call) already did, or the schedule is paused and the
        fire is not manual. A manual fire is audited as ``schedule.run``."""
        now = self._now()
        row = {
            "schedule_id": schedule_id,
            "fire_time": fire_time,
            "manual": manual,
            "requested_by": requested_by.key if requested_by else "",
            "owner": owner,
            "started_at": now,
            "outcome": RUNNING,
            "summary": "",
            "result": {},
        }
        paused = select(STATES.c.paused).where(STATES.c.schedule_id == schedule_id)
        async with self.engine.begin() as connection:
            if not manual and (await connection.execute(paused)).scalar_one_or_none():
                return None
            inserted = (
                await connection.execute(self._insert(FIRES).values(**row).returning(*FIRES.c))
            ).one_or_none()
            if inserted is None:
                return None
            if requested_by is not None:
                await connection.execute(
                    insert(AUDIT).values(
                        at=now,
                        run_id=None,
                        actor=requested_by.key,
                        surface=requested_by.surface,
                        kind="schedule.run",
                        detail={"schedule": schedule_id},
                    )
                )
        return FireRecord.from_row(inserted)

    async def finish(
        self,
        fire: FireRecord,
        *,
        outcome: str,
        summary: str,
        duration_ms: int,
        result: Mapping[str, Any] | None = None,
    ) -> None:
        """Record how ``fire`` ended, and drop the schedule's fires past KEEP_FIRES."""
        now = self._now()
        done = (
            update(FIRES)
            .where(FIRES.c.id == fire.id)
            .values(
                outcome=outcome,
                summary=summary,
                duration_ms=duration_ms,
                finished_at=now,
                result=dict(result or {}),
            )
        )
        forget = delete(FIRES).where(
            FIRES.c.schedule_id == fire.schedule_id,
            FIRES.c.fire_time < now - KEEP_FIRES,
            FIRES.c.id != fire.id,
        )
        async with self.engine.begin() as connection:
            await connection.execute(done)
            await connection.execute(forget)

    async def last_fires(self, schedule_ids: Collection[str]) -> dict[str, FireRecord]:
        """The newest fire of each schedule that has one (scheduled or manual)."""
        found: dict[str, FireRecord] = {}
        async with self.engine.connect() as connection:
            for schedule_id in schedule_ids:
                query = (
                    select(FIRES)
                    .where(FIRES.c.schedule_id == schedule_id)
                    .order_by(FIRES.c.fire_time.desc(), FIRES.c.id.desc())
                    .limit(1)
                )
                row = (await connection.execute(query)).one_or_none()
                if row is not None:
                    found[schedule_id] = FireRecord.from_row(row)
        return found

    async def previous_result(self, schedule_id: str, *, before: FireRecord) -> dict[str, Any]:
        """What the schedule's last successful fire before ``before`` recorded ({} if none)."""
        query = (
            select(FIRES.c.result)
            .where(
                FIRES.c.schedule_id == schedule_id,
                FIRES.c.outcome == OK,
                FIRES.c.id != before.id,
                FIRES.c.started_at <= before.started_at,
            )
            .order_by(FIRES.c.started_at.desc(), FIRES.c.id.desc())
            .limit(1)
        )
        async with self.engine.connect() as connection:
            result = (await connection.execute(query)).scalar_one_or_none()
        return dict(result or {})

    async def states(self) -> dict[str, ScheduleState]:
        """Every schedule ever paused or resumed, as it stands."""
        async with self.engine.connect() as connection:
            rows = await connection.execute(select(STATES))
            return {
                row.schedule_id: ScheduleState(
                    row.schedule_id, row.paused, row.changed_by, as_utc(row.changed_at)
                )
                for row in rows
            }

    async def set_paused(self, schedule_id: str, paused: bool, *, by: Actor) -> bool:
        """Pause (or resume) ``schedule_id`` for every replica; False if it already was.
        The change is audited (``schedule.paused`` / ``schedule.resumed``)."""
        now = self._now()
        values = {"paused": paused, "changed_by": by.key, "changed_at": now}
        change = (
            update(STATES)
            .where(STATES.c.schedule_id == schedule_id, STATES.c.paused != paused)
            .values(**values)
        )
        async with self.engine.begin() as connection:
            changed = False
            if paused:  # a schedule never paused has no row yet
                create = self._insert(STATES).values(schedule_id=schedule_id, **values)
                created = await connection.execute(create.returning(STATES.c.schedule_id))
                changed = created.one_or_none() is not None
            if not changed:
                changed = (await connection.execute(change)).rowcount == 1
            if not changed:
                return False
            await connection.execute(
                insert(AUDIT).values(
                    at=now,
                    run_id=None,
                    actor=by.key,
                    surface=by.surface,
                    kind="schedule.paused" if paused else "schedule.resumed",
                    detail={"schedule": schedule_id},
                )
            )
        return True
