"""When schedules fire: a fire time in, the next fire time out. Pure: no clock, no I/O.

The arithmetic is APScheduler 3's own triggers, so what the scheduler computes here is what
its timers fire on:

- ``cron`` — :class:`~apscheduler.triggers.cron.CronTrigger` in the schedule's time zone
  (UTC unless it names one). Across a DST change it does what APScheduler 3 does: a local
  time that does not exist that day (02:30 when clocks jump from 02:00 to 03:00) fires at
  the same UTC offset as the day before, an hour later on the wall clock; a local time that
  happens twice (01:30 when clocks go back) fires twice, once in each.
- ``every`` — :class:`~apscheduler.triggers.interval.IntervalTrigger` counted from a fixed
  start (the epoch unless the schedule declares one), never from when a process started,
  so every replica computes the same fire times.

A fire time is the key a fire is recorded under in the database; two replicas agree on it
because both compute it from the trigger, never from their own clocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.config_schedules import ScheduleConfig

__all__ = ["EPOCH", "build_trigger", "fires_between", "latest_due", "next_fire"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TICK = timedelta(microseconds=1)


def build_trigger(schedule: ScheduleConfig) -> Any:
    """The APScheduler trigger of ``schedule`` (cron in its zone, or an aligned interval)."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if schedule.cron is not None:
        return CronTrigger.from_crontab(schedule.cron, timezone=schedule.zone)
    assert schedule.every is not None
    return IntervalTrigger(seconds=schedule.every, start_date=schedule.start or EPOCH, timezone=UTC)


def next_fire(trigger: Any, after: datetime) -> datetime:
    """The first fire time strictly after ``after`` (UTC)."""
    fire: datetime | None = trigger.get_next_fire_time(None, after + _TICK)
    if fire is not None and fire <= after:
        # A cron asked from inside an hour that happens twice (DST ends) may answer with
        # the earlier one; asked as APScheduler asks after a fire, it moves on.
        fire = trigger.get_next_fire_time(after, after)
    if fire is None or fire <= after:
        raise ValueError(f"the trigger {trigger} has no fire time after {after.isoformat()}")
    return fire.astimezone(UTC)


def fires_between(trigger: Any, start: datetime, end: datetime) -> Iterator[datetime]:
    """Every fire time in ``[start, end]``, in order."""
    fire = trigger.get_next_fire_time(None, start)
    while fire is not None and fire <= end:
        fire = fire.astimezone(UTC)
        if fire >= start:  # asked from inside a repeated (DST) hour, it may answer earlier
            yield fire
        fire = next_fire(trigger, fire)


def latest_due(trigger: Any, now: datetime, grace: float) -> datetime | None:
    """The last fire time in ``[now - grace, now]``: what to run at ``now``, once; None when
    no fire time falls in the window (nothing is due, or it is too late to run it)."""
    from apscheduler.triggers.interval import IntervalTrigger

    earliest = now - timedelta(seconds=grace)
    if isinstance(trigger, IntervalTrigger):
        # On the interval's grid, in whole microseconds: a 1 s interval with an hour of
        # grace would otherwise walk 3,600 fire times on every tick.
        steps = (now - trigger.start_date) // trigger.interval
        if steps < 0:
            return None
        fire: datetime = (trigger.start_date + trigger.interval * steps).astimezone(UTC)
        return fire if fire >= earliest else None
    latest = None
    for fire in fires_between(trigger, earliest, now):
        latest = fire
    return latest
