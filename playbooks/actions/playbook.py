"""The ``playbook`` action: run another playbook as a child of this run."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import Field

from playbooks.actions.base import Action, ActionArgs, ActionContext, ActionResult

__all__ = ["PlaybookAction", "PlaybookArgs"]

_PLAN_VALUE_LIMIT = 40


class PlaybookArgs(ActionArgs):
    """``with:`` arguments of the ``playbook`` action."""

    name: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)


def _param_text(value: Any) -> str:
    """A value as a user would type it after the playbook name (``reindex=false``)."""
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False) if (not value or " " in value) else value
    elif isinstance(value, bool | int | float) or value is None:
        text = json.dumps(value)
    else:
        # ``default=str``: a dry run may hold placeholders for values known only later.
        text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= _PLAN_VALUE_LIMIT else text[: _PLAN_VALUE_LIMIT - 1] + "…"


class PlaybookAction(Action[PlaybookArgs]):
    """Run a child playbook and wait for it."""

    name: ClassVar[str] = "playbook"
    Args = PlaybookArgs
    summary: ClassVar[str] = "Run another playbook as a child of this run and wait for its end."

    def plan(self, args: PlaybookArgs) -> str:
        params = ", ".join(f"{key}={_param_text(value)}" for key, value in args.params.items())
        return f"run playbook `{args.name}`" + (f" ({params})" if params else "")

    async def execute(self, args: PlaybookArgs, ctx: ActionContext) -> ActionResult:
        return await ctx.run_playbook(args.name, args.params)
