"""Every surface the bot can serve, one line each: when it is configured, and what builds it.

A surface's module is imported only when it is configured (a bot without Slack never pays
for slack-bolt at start-up). Adding a surface is a folder that implements
:class:`bot.surface.Surface` and one line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import Config
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.service import ChatOpsService
    from bot.surface import Surface

__all__ = ["SURFACES", "Plug", "configured_surfaces"]


@dataclass(frozen=True)
class Plug:
    """One surface: whether the settings and config turn it on, the ``module:callable``
    that builds it from ``(service, settings)``, and whether the console starts it too."""

    name: str
    wanted: Callable[[Settings, Config], bool]
    build: str
    in_console: bool = False

    def create(self, service: ChatOpsService, settings: Settings) -> Surface:
        module, _, name = self.build.partition(":")
        factory = getattr(importlib.import_module(module), name)
        surface: Surface = factory(service, settings)
        return surface


SURFACES: tuple[Plug, ...] = (
    Plug("slack", lambda s, _c: s.slack_bot_token is not None, "handlers.slack.app:SlackSurface"),
    Plug(
        "telegram",
        lambda s, _c: s.telegram_bot_token is not None,
        "handlers.telegram.app:TelegramSurface",
    ),
    Plug("scheduler", lambda _s, c: bool(c.schedules), "scheduler.surface:SchedulerSurface", True),
)


def configured_surfaces(
    service: ChatOpsService, settings: Settings, *, console: bool = False
) -> list[Surface]:
    """The surfaces the settings and config turn on (only those the console runs too, for
    ``chatops shell``), built in the order of :data:`SURFACES`. A surface whose settings are
    incomplete refuses to be built (ChatOpsError): nothing has been opened yet."""
    config = service.deps.config
    return [
        plug.create(service, settings)
        for plug in SURFACES
        if plug.wanted(settings, config) and (plug.in_console or not console)
    ]
