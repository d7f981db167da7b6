"""Firing schedules: the fire time from the trigger, the claim in the database, the job.

Every replica ticks every schedule; :meth:`ScheduleRunner.tick` takes the latest fire time
due (within the schedule's grace window), and only the replica whose claim of
(schedule, fire time) wins runs the job. At start-up each schedule is ticked once, so a
fire missed while every replica was down runs once if it is still within its grace
window, never once per missed fire.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.exc import SQLAlchemyError

from bot.chat import Actor
from bot.db.alerts import AlertStore
from bot.db.digests import DigestQueries
from bot.db.schedules import FAILED, OK, FireRecord, ScheduleStore
from bot.outbound_http import step_http_client
from bot.service import ChatOpsService
from playbooks.errors import ChatOpsError
from scheduler.digest import UpcomingFire
from scheduler.jobs import Jobs, Outcome
from scheduler.metrics import METRIC_CONNECTIONS, MetricReader
from scheduler.model import Job, Schedule
from scheduler.triggers import latest_due

__all__ = ["Fired", "ScheduleRunner"]

log = structlog.get_logger(__name__)

_UPCOMING = 5


@dataclass(frozen=True)
class Fired:
    """A fire this process ran, as recorded."""

    fire: FireRecord
    outcome: Outcome
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.outcome.ok


class ScheduleRunner:
    def __init__(self, service: ChatOpsService, schedules: Mapping[str, Schedule]) -> None:
        deps = service.deps
        self.service = service
        self.schedules = dict(schedules)
        self.owner = str(service.owner)
        self.clock = deps.clock
        engine = deps.store.engine
        self.fires = ScheduleStore(engine, deps.clock.now)
        self.alerts = AlertStore(engine, deps.clock.now)
        self.digests = DigestQueries(engine)
        # A client of its own: a hundred metrics on one origin would queue behind the
        # connections the playbook steps' client allows each origin.
        self.http = step_http_client(per_origin=METRIC_CONNECTIONS)
        self.reader = MetricReader(
            deps.config,
            http=self.http,
            environ=deps.environ,
            redact=deps.redactor,
            remember_secret=deps.redactor.add,
        )
        self.paused: set[str] = set()  # as last read (refresh_paused)
        self.jobs = Jobs(
            service=service,
            fires=self.fires,
            alerts=self.alerts,
            digests=self.digests,
            reader=self.reader,
            upcoming=self.upcoming,
        )

    async def close(self) -> None:
        await self.reader.close()
        await self.http.aclose()

    # -- firing -------------------------------------------------------------------------

    async def tick(self, schedule_id: str) -> Fired | None:
        """Run ``schedule_id``'s latest fire due now, if no process has run it yet."""
        schedule = self.schedules[schedule_id]
        due = latest_due(schedule.trigger, self.clock.now(), schedule.grace)
        if due is None:
            return None
        return await self.fire(schedule, due)

    async def catch_up(self) -> list[Fired]:
        """At start-up: each schedule's fire missed while no process ran, if still due."""
        fired = []
        for schedule_id in self.schedules:
            try:
                done = await self.tick(schedule_id)
            except SQLAlchemyError:
                log.warning("schedule_catch_up_failed", schedule=schedule_id, exc_info=True)
                continue
            if done is not None:
                fired.append(done)
        return fired

    async def fire(
        self, schedule: Schedule, fire_time: datetime, *, by: Actor | None = None
    ) -> Fired | None:
        """Claim ``schedule``'s fire at ``fire_time`` (manual when ``by`` asked for it), run
        its job and record the outcome; None when another process has it, or the schedule
        is paused (a manual fire runs anyway)."""
        fire = await self.fires.claim(
            schedule.id,
            fire_time,
            owner=self.owner,
            manual=by is not None,
            requested_by=by,
        )
        if fire is None:
            return None
        began = time.perf_counter()
        outcome = await self._run(schedule, fire)
        duration_ms = round((time.perf_counter() - began) * 1000)
        await self.fires.finish(
            fire,
            outcome=OK if outcome.ok else FAILED,
            summary=self.service.deps.redactor(outcome.summary),
            duration_ms=duration_ms,
            result=outcome.result,
        )
        log.info(
            "schedule_fired",
            schedule=schedule.id,
            fire_time=fire_time.isoformat(),
            manual=by is not None,
            ok=outcome.ok,
            summary=outcome.summary,
            duration_ms=duration_ms,
        )
        return Fired(fire, outcome, duration_ms)

    async def _run(self, schedule: Schedule, fire: FireRecord) -> Outcome:
        try:
            match schedule.job:
                case Job.DIGEST:
                    return await self.jobs.digest(schedule, fire)
                case Job.PLAYBOOK:
                    return await self.jobs.playbook(schedule, fire)
                case Job.ALERTS:
                    return await self.jobs.alert_rules(schedule, fire)
        except ChatOpsError as exc:
            return Outcome(False, exc.reason)
        except SQLAlchemyError:
            log.error("schedule_database_unreachable", schedule=schedule.id, exc_info=True)
            return Outcome(False, "the database could not be reached")
        except Exception as exc:
            log.exception("schedule_job_crashed", schedule=schedule.id)
            return Outcome(False, f"internal error: {type(exc).__name__}")

    # -- what comes next ----------------------------------------------------------------

    async def upcoming(self, now: datetime, limit: int = _UPCOMING) -> list[UpcomingFire]:
        """The next ``limit`` fires across schedules, soonest first (paused ones marked)."""
        await self.refresh_paused()
        fires = [
            UpcomingFire(s.id, s.what(), s.next_fire(now), paused=s.id in self.paused)
            for s in self.schedules.values()
        ]
        return sorted(fires, key=lambda f: (f.at, f.schedule_id))[:limit]

    async def refresh_paused(self) -> set[str]:
        """Which schedules are paused now, as every replica sees it."""
        states = await self.fires.states()
        self.paused = {key for key, state in states.items() if state.paused}
        return self.paused
