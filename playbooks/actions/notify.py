"""The ``notify`` action: post a message to the run's thread or a configured channel."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from playbooks.actions.base import Action, ActionArgs, ActionContext, ActionResult

__all__ = ["NotifyAction", "NotifyArgs"]

_PLAN_MESSAGE_LIMIT = 80


class NotifyArgs(ActionArgs):
    """``with:`` arguments of the ``notify`` action."""

    message: str = Field(min_length=1)
    channel: str | None = None
    """A channel name from the config; none means the run's own thread."""


def _preview(message: str) -> str:
    collapsed = " ".join(message.split())
    if len(collapsed) > _PLAN_MESSAGE_LIMIT:
        collapsed = collapsed[: _PLAN_MESSAGE_LIMIT - 1] + "…"
    return f"“{collapsed}”"


class NotifyAction(Action[NotifyArgs]):
    """Post a message."""

    name: ClassVar[str] = "notify"
    Args = NotifyArgs
    summary: ClassVar[str] = "Post a message to the run's thread or to a configured channel."

    def plan(self, args: NotifyArgs) -> str:
        if args.channel is None:
            return f"post in the run's thread: {_preview(args.message)}"
        return f"post to #{args.channel.lstrip('#')}: {_preview(args.message)}"

    async def execute(self, args: NotifyArgs, ctx: ActionContext) -> ActionResult:
        where = await ctx.notify(args.message, args.channel)
        return ActionResult(
            summary=f"posted to {where}",
            output=args.message,
            value=where,
            data={"where": where},
        )
