"""A configured schedule as the scheduler uses it: its trigger and what it does. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.config_schedules import ScheduleConfig
from playbooks.durations import format_duration
from scheduler.triggers import build_trigger, next_fire

__all__ = ["Job", "Schedule", "build_schedules"]


class Job(StrEnum):
    DIGEST = "digest"
    PLAYBOOK = "playbook"
    ALERTS = "alerts"


@dataclass(frozen=True)
class Schedule:
    id: str
    config: ScheduleConfig
    trigger: Any  # an APScheduler trigger (scheduler.triggers)

    @classmethod
    def build(cls, schedule_id: str, config: ScheduleConfig) -> Schedule:
        return cls(schedule_id, config, build_trigger(config))

    @property
    def job(self) -> Job:
        if self.config.digest is not None:
            return Job.DIGEST
        if self.config.playbook is not None:
            return Job.PLAYBOOK
        return Job.ALERTS

    @property
    def grace(self) -> float:
        return self.config.grace

    def next_fire(self, after: datetime) -> datetime:
        return next_fire(self.trigger, after)

    def what(self) -> str:
        """What it does, in a few words: ``digest to #fintech-reports (last 24h)``."""
        config = self.config
        if config.digest is not None:
            period = format_duration(config.digest.period).replace(" ", "")
            return f"digest to #{config.digest.channel} (last {period})"
        if config.playbook is not None:
            return f"playbook `{config.playbook.name}` in #{config.playbook.channel}"
        rules = ", ".join(f"`{rule}`" for rule in config.alerts or [])
        return f"alert rules {rules}"

    def when(self) -> str:
        """``cron `0 2 * * mon` (UTC)`` or ``every 15m``."""
        if self.config.cron is not None:
            return f"cron `{self.config.cron}` ({self.config.timezone})"
        assert self.config.every is not None
        return f"every {format_duration(self.config.every).replace(' ', '')}"


def build_schedules(configs: Mapping[str, ScheduleConfig]) -> dict[str, Schedule]:
    return {key: Schedule.build(key, config) for key, config in configs.items()}
