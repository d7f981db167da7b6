"""The Scheduling port: what the service asks of the scheduler, which plugs in from outside.

``/schedule list|run|pause|resume`` and the buttons of suggested playbooks reach the
scheduler only through this protocol; ``bot/`` never imports ``scheduler/``. The
composition root attaches an implementation with
:meth:`~bot.service.ChatOpsService.attach_scheduling`.
"""

from __future__ import annotations

from typing import Protocol

from bot.chat import Actor
from bot.commands import ScheduleCommand, StartRun

__all__ = ["Scheduling"]


class Scheduling(Protocol):
    async def answer(self, actor: Actor, command: ScheduleCommand) -> str:
        """The private answer to ``command`` typed by ``actor``; a ChatOpsError (its reason
        shown privately) when ``actor`` may not do it or it names no schedule."""
        ...

    async def suggested_run(self, ref: int) -> StartRun:
        """The playbook (with params) an alert's suggestion button ``ref`` opens; a
        ChatOpsError when ``ref`` names no suggestion configured now."""
        ...
