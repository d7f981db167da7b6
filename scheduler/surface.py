"""The scheduler as a Surface: APScheduler's timers ticking the runner, nothing more.

``open`` builds the schedules from the config (refusing, with every reason at once, one
that names a playbook the catalog lacks) and attaches ``/schedule`` to the service;
``start`` starts an :class:`~apscheduler.schedulers.asyncio.AsyncIOScheduler` (APScheduler
3, in-memory job store: job stores must never be shared across replicas, the database
decides who fires) with one job per schedule on its own trigger, and catches up on fires
missed while no process ran; ``close`` stops it. It posts through the other surfaces'
chats, so it has none of its own. Without schedules in the config it attaches nothing
(``/schedule`` says so) and imports none of its machinery, nor APScheduler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any

import structlog
from starlette.routing import BaseRoute

from bot.chat import Chat
from bot.service import ChatOpsService
from bot.settings import Settings
from playbooks.errors import ChatOpsError

if TYPE_CHECKING:
    from scheduler.model import Schedule
    from scheduler.runner import ScheduleRunner

__all__ = ["SchedulerSurface", "unknown_playbooks"]

log = structlog.get_logger(__name__)


def unknown_playbooks(service: ChatOpsService) -> list[str]:
    """What the config's alert rules and schedules name that the catalog lacks."""
    from bot.config import unknown_playbooks as unknown

    return unknown(service.deps.config, {playbook.name for playbook in service.catalog})


class SchedulerSurface:
    name = "scheduler"

    def __init__(self, service: ChatOpsService, settings: Settings | None = None) -> None:
        # The scheduler reads its schedules from the config the service was built with;
        # ``settings`` is part of every surface's constructor and holds nothing it needs.
        del settings
        self.service = service
        self.runner: ScheduleRunner | None = None
        self._timers: Any = None  # the AsyncIOScheduler, once started
        self._work: set[asyncio.Task[Any]] = set()

    @property
    def chat(self) -> Chat | None:
        return None

    @property
    def schedules(self) -> dict[str, Schedule]:
        return self.runner.schedules if self.runner is not None else {}

    async def open(self) -> None:
        if not self.service.deps.config.schedules:
            return
        problems = unknown_playbooks(self.service)
        if problems:
            raise ChatOpsError("\n".join(problems))
        from scheduler.commands import ScheduleCommands
        from scheduler.model import build_schedules
        from scheduler.runner import ScheduleRunner

        self.runner = ScheduleRunner(
            self.service, build_schedules(self.service.deps.config.schedules)
        )
        self.service.attach_scheduling(ScheduleCommands(self.runner))

    def routes(self) -> Sequence[BaseRoute]:
        return []

    async def start(self) -> None:
        if self.runner is None or not self.runner.schedules:
            return
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        timers = AsyncIOScheduler(timezone=UTC, jobstores={"default": MemoryJobStore()})
        for schedule in self.runner.schedules.values():
            timers.add_job(
                self._tick,
                trigger=schedule.trigger,
                args=[schedule.id],
                id=schedule.id,
                name=schedule.id,
                # Late by more than the grace window: skipped here, as runner.tick would.
                misfire_grace_time=max(1, int(schedule.grace)),
                coalesce=True,
                max_instances=1,
            )
        timers.start()
        self._timers = timers
        self._spawn(self._catch_up())
        log.info("scheduler_started", schedules=sorted(self.runner.schedules))

    async def close(self) -> None:
        if self._timers is not None:
            self._timers.shutdown(wait=False)
            self._timers = None
            await asyncio.sleep(0)  # APScheduler stops on the loop's next turn
        for task in list(self._work):
            task.cancel()
        await asyncio.gather(*self._work, return_exceptions=True)
        if self.runner is not None:
            await self.runner.close()

    def next_run_times(self) -> dict[str, Any]:
        """When APScheduler will next wake each schedule (None once stopped)."""
        if self._timers is None:
            return {}
        return {job.id: job.next_run_time for job in self._timers.get_jobs()}

    async def _tick(self, schedule_id: str) -> None:
        assert self.runner is not None
        task = asyncio.current_task()
        if task is not None:
            self._work.add(task)
        try:
            await self.runner.tick(schedule_id)
        except Exception:
            log.exception("schedule_tick_failed", schedule=schedule_id)
        finally:
            if task is not None:
                self._work.discard(task)

    async def _catch_up(self) -> None:
        assert self.runner is not None
        fired = await self.runner.catch_up()
        if fired:
            log.info("scheduler_caught_up", fired=[f.fire.schedule_id for f in fired])

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work, name="scheduler-catch-up")
        self._work.add(task)
        task.add_done_callback(self._work.discard)
