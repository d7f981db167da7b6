"""The ``wait`` action: pause the run on the engine's clock."""

from __future__ import annotations

from typing import ClassVar

from playbooks.actions.base import Action, ActionArgs, ActionContext, ActionResult
from playbooks.durations import Duration, format_duration

__all__ = ["WaitAction", "WaitArgs"]


class WaitArgs(ActionArgs):
    """``with:`` arguments of the ``wait`` action."""

    duration: Duration


class WaitAction(Action[WaitArgs]):
    """Sleep for a fixed duration."""

    name: ClassVar[str] = "wait"
    Args = WaitArgs
    summary: ClassVar[str] = "Pause the run for a duration such as 30s or 5m."

    def plan(self, args: WaitArgs) -> str:
        return f"wait {format_duration(args.duration)}"

    async def execute(self, args: WaitArgs, ctx: ActionContext) -> ActionResult:
        await ctx.sleep(args.duration)
        return ActionResult(
            summary=f"waited {format_duration(args.duration)}",
            value=args.duration,
        )

    def estimate_seconds(self, args: WaitArgs) -> float:
        return args.duration
