"""``/schedule list|run|pause|resume`` and the Start buttons of suggested playbooks: the
:class:`~bot.scheduling.Scheduling` port, answered from the runner and the database.

Run, pause and resume are limited to the schedule's ``allowed`` roles (anyone when it
names none); firing a playbook schedule by hand also takes the right to start that
playbook. Everyone else gets a private refusal. Pause and resume hold for every replica
and survive restarts; both, and every manual run, are audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.chat import Actor
from bot.commands import ScheduleCommand, StartRun
from bot.config import Config
from bot.db.schedules import FireRecord, ScheduleState
from bot.policy import roles_of
from playbooks.durations import format_duration
from playbooks.errors import ChatOpsError
from scheduler.model import Schedule
from scheduler.runner import ScheduleRunner

__all__ = ["ScheduleCommands", "format_schedules"]


class ScheduleCommands:
    """The Scheduling port over a :class:`ScheduleRunner`."""

    def __init__(self, runner: ScheduleRunner) -> None:
        self.runner = runner

    @property
    def config(self) -> Config:
        return self.runner.service.deps.config

    async def answer(self, actor: Actor, command: ScheduleCommand) -> str:
        if command.verb == "list":
            return await self._list()
        schedule = self._schedule(command.schedule_id or "")
        self._require_allowed(actor, schedule, command.verb)
        if command.verb == "run":
            return await self._run(actor, schedule)
        paused = command.verb == "pause"
        changed = await self.runner.fires.set_paused(schedule.id, paused, by=actor)
        if not changed:
            return f"`{schedule.id}` was already {'paused' if paused else 'running'}."
        if paused:
            return (
                f"⏸️ Paused `{schedule.id}` on every replica: it will not fire until "
                f"`/schedule resume {schedule.id}`."
            )
        nxt = schedule.next_fire(self.runner.clock.now())
        return f"▶️ Resumed `{schedule.id}`; next fire {_at(nxt)}."

    async def suggested_run(self, ref: int) -> StartRun:
        rule_id = await self.runner.alerts.rule_of(ref)
        rule = self.config.alerts.get(rule_id) if rule_id is not None else None
        if rule is None or rule.suggest is None:
            raise ChatOpsError("That suggestion is no longer configured, so nothing was started.")
        return StartRun(rule.suggest.playbook, dict(rule.suggest.params))

    async def _list(self) -> str:
        schedules = list(self.runner.schedules.values())
        states = await self.runner.fires.states()
        last = await self.runner.fires.last_fires([s.id for s in schedules])
        return format_schedules(schedules, states, last, self.runner.clock.now())

    async def _run(self, actor: Actor, schedule: Schedule) -> str:
        fired = await self.runner.fire(schedule, self.runner.clock.now(), by=actor)
        if fired is None:
            return f"`{schedule.id}` was fired by someone else at this very moment."
        mark = "✅" if fired.ok else "❌"
        return f"{mark} Fired `{schedule.id}` now: {fired.outcome.summary}"

    def _schedule(self, schedule_id: str) -> Schedule:
        schedule = self.runner.schedules.get(schedule_id)
        if schedule is None:
            known = ", ".join(f"`{key}`" for key in self.runner.schedules) or "none"
            raise ChatOpsError(f"There is no schedule `{schedule_id}` (schedules: {known}).")
        return schedule

    def _require_allowed(self, actor: Actor, schedule: Schedule, verb: str) -> None:
        allowed = schedule.config.allowed
        held = roles_of(actor, self.config)
        if allowed and not held & set(allowed):
            roles = " or ".join(f"`{role}`" for role in allowed)
            raise ChatOpsError(f"You can't {verb} `{schedule.id}`: it is limited to {roles}.")
        spec = schedule.config.playbook
        if verb == "run" and spec is not None and spec.name in self.runner.service.catalog:
            playbook = self.runner.service.catalog.get(spec.name)
            if playbook.allowed and not held & set(playbook.allowed):
                roles = " or ".join(f"`{role}`" for role in playbook.allowed)
                raise ChatOpsError(
                    f"You can't run `{schedule.id}` by hand: it starts `{spec.name}`, which "
                    f"is limited to {roles}."
                )


def format_schedules(
    schedules: Sequence[Schedule],
    states: dict[str, ScheduleState],
    last: dict[str, FireRecord],
    now: datetime,
) -> str:
    """``/schedule list``: what each does, its next and last fire, and whether it is paused."""
    lines = [f"*Schedules* ({len(schedules)}):"]
    for schedule in schedules:
        state = states.get(schedule.id)
        paused = state is not None and state.paused
        head = f"• `{schedule.id}` — {schedule.what()}; {schedule.when()}"
        if paused and state is not None:
            who = state.changed_by.split(":", 1)[-1]
            lines.append(f"{head} · ⏸️ paused by {who}")
        else:
            lines.append(f"{head} · next {_at(schedule.next_fire(now))}")
        fire = last.get(schedule.id)
        if fire is None:
            lines.append("   last: never fired")
            continue
        mark = {"ok": "✅", "failed": "❌"}.get(fire.outcome, "⏳")
        took = (
            f" in {format_duration(fire.duration_ms / 1000)}"
            if fire.duration_ms is not None
            else ""
        )
        manual = " (by hand)" if fire.manual else ""
        summary = f": {fire.summary}" if fire.summary else ""
        lines.append(f"   last: {_at(fire.fire_time)}{manual} {mark} {fire.outcome}{took}{summary}")
    return "\n".join(lines)


def _at(moment: datetime) -> str:
    return f"{moment:%a %d %b %H:%M} UTC"
