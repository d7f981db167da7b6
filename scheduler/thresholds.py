"""A metric's value against its thresholds: ok, warning, critical, or unknown. Pure.

Each threshold carries its own direction (``> 5.0%`` for PAR 90, bad when high; ``< 1.0%``
for the collection rate, bad when low), so one rule judges both. Critical is checked first,
then warning; a value past neither is ok, and ``off_target`` says whether it also misses
the target (between the target and the warning line). A source that fails gives
``unknown`` with its reason: never ok.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from bot.config_schedules import MetricConfig

__all__ = ["Level", "Reading", "judge", "unknown"]


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"

    @property
    def emoji(self) -> str:
        return {"ok": "🟢", "warning": "🟠", "critical": "🔴", "unknown": "⚪"}[self.value]

    @property
    def rank(self) -> int:
        """How bad: ok 0, warning 1, critical 2 (unknown is not ranked: -1)."""
        return {"ok": 0, "warning": 1, "critical": 2, "unknown": -1}[self.value]


@dataclass(frozen=True)
class Reading:
    """One metric, read once: its value and level, or why it could not be read."""

    metric: str
    level: Level
    value: float | None = None
    off_target: bool = False
    reason: str = ""  # why it is unknown


def unknown(metric: str, reason: str) -> Reading:
    return Reading(metric, Level.UNKNOWN, reason=reason)


def judge(metric: str, config: MetricConfig, value: float) -> Reading:
    """The level of ``value`` for ``config``'s thresholds."""
    if math.isnan(value) or math.isinf(value):
        return unknown(metric, f"the source answered {value}, not a number to judge")
    if config.critical is not None and config.critical.holds(value):
        level = Level.CRITICAL
    elif config.warning is not None and config.warning.holds(value):
        level = Level.WARNING
    else:
        level = Level.OK
    off_target = config.target is not None and not config.target.holds(value)
    return Reading(metric, level, value, off_target=off_target)
