"""Bots with the scheduler on: the console surface, a real store, an injected clock.

    bot = await scheduled(config=CONFIG, playbooks={...})
    await bot.tick("daily-summary")     # what APScheduler's timer does when it fires
    assert bot.reports("fintech-reports")

Nothing sleeps: tests move ``clock`` and tick; APScheduler's own timers are not started.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest_asyncio

from bot.chat import Report
from handlers.shell.testing import ConsoleBot
from scheduler.runner import Fired
from scheduler.surface import SchedulerSurface
from tests.support.console import BotFactory

__all__ = ["ScheduledBot", "ScheduledFactory"]


class ScheduledBot:
    """A console bot with its scheduler, opened (``/schedule`` answers) but not started."""

    def __init__(self, bot: ConsoleBot, surface: SchedulerSurface) -> None:
        self.bot = bot
        self.surface = surface

    @property
    def runner(self) -> Any:
        assert self.surface.runner is not None
        return self.surface.runner

    async def tick(self, schedule_id: str) -> Fired | None:
        return await self.runner.tick(schedule_id)  # type: ignore[no-any-return]

    def reports(self, channel: str | None = None) -> list[Report]:
        return [
            m.report
            for m in self.bot.chat.messages
            if m.report is not None and (channel is None or m.channel == channel)
        ]

    def said(self) -> str:
        return "\n".join(self.bot.lines)


ScheduledFactory = Callable[..., Awaitable[ScheduledBot]]


@pytest_asyncio.fixture
async def scheduled(make_bot: BotFactory) -> AsyncIterator[ScheduledFactory]:
    surfaces: list[SchedulerSurface] = []

    async def factory(**options: Any) -> ScheduledBot:
        bot = await make_bot(**options)
        surface = SchedulerSurface(bot.service)
        await surface.open()
        surfaces.append(surface)
        return ScheduledBot(bot, surface)

    yield factory
    for surface in surfaces:
        await surface.close()
