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

from pydantic import SecretStr

from bot.config import Config
from bot.settings import Settings
from playbooks.errors import ChatOpsError

if TYPE_CHECKING:
    from bot.service import ChatOpsService
    from bot.surface import Surface

__all__ = ["SURFACES", "Plug", "configured_surfaces", "half_set"]


@dataclass(frozen=True)
class Plug:
    """One surface: whether the settings and config turn it on, the ``module:callable``
    that builds it from ``(service, settings)``, and whether the console starts it too."""

    name: str
    wanted: Callable[[Settings, Config], bool]
    build: str
    in_console: bool = False
    requires: tuple[tuple[str, str], ...] = ()
    """``(A, B)``: a variable A that means nothing without B. A set without B is refused at
    start-up rather than ignored (the surface would silently not start, or start otherwise
    than meant)."""

    def create(self, service: ChatOpsService, settings: Settings) -> Surface:
        module, _, name = self.build.partition(":")
        factory = getattr(importlib.import_module(module), name)
        surface: Surface = factory(service, settings)
        return surface


SURFACES: tuple[Plug, ...] = (
    Plug(
        "slack",
        lambda s, _c: s.slack_bot_token is not None,
        "handlers.slack.app:SlackSurface",
        requires=(
            ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN"),
            ("SLACK_APP_TOKEN", "SLACK_BOT_TOKEN"),
            ("SLACK_API_URL", "SLACK_BOT_TOKEN"),
        ),
    ),
    Plug(
        "telegram",
        lambda s, _c: s.telegram_bot_token is not None,
        "handlers.telegram.app:TelegramSurface",
        requires=(
            ("TELEGRAM_WEBHOOK_URL", "TELEGRAM_BOT_TOKEN"),
            ("TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_BOT_TOKEN"),
            ("TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_WEBHOOK_URL"),
            ("TELEGRAM_API_URL", "TELEGRAM_BOT_TOKEN"),
        ),
    ),
    Plug("scheduler", lambda _s, c: bool(c.schedules), "scheduler.surface:SchedulerSurface", True),
)


def configured_surfaces(
    service: ChatOpsService, settings: Settings, *, console: bool = False
) -> list[Surface]:
    """The surfaces the settings and config turn on (only those the console runs too, for
    ``chatops shell``), built in the order of :data:`SURFACES`. A surface whose settings are
    incomplete refuses to be built (ChatOpsError, every reason at once): nothing has been
    opened yet. The console serves no other surface, so it does not look at theirs."""
    config = service.deps.config
    problems = [] if console else half_set(settings)
    if problems:
        raise ChatOpsError("\n".join(problems))
    return [
        plug.create(service, settings)
        for plug in SURFACES
        if plug.wanted(settings, config) and (plug.in_console or not console)
    ]


def half_set(settings: Settings) -> list[str]:
    """Why a surface's settings are half there, one line each (none when every surface is
    configured or left alone): ``SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not …``."""
    problems = []
    for plug in SURFACES:
        for variable, needed in plug.requires:
            if _is_set(settings, variable) and not _is_set(settings, needed):
                surface = plug.name.capitalize()
                problems.append(
                    f"{variable} is set but {needed} is not: {surface} needs {needed}"
                    f" with it (or unset {variable})"
                )
    return problems


def _is_set(settings: Settings, variable: str) -> bool:
    field = next(
        name for name, info in Settings.model_fields.items() if info.validation_alias == variable
    )
    value = getattr(settings, field)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return bool(value)
