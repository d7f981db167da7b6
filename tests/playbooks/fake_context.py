"""A small concrete ActionContext for action tests: real HTTP, fake clock, recorded side effects."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from playbooks.actions.base import Action, ActionResult
from playbooks.actions.registry import builtin_actions
from playbooks.templating import evaluate

__all__ = ["FakeContext"]

_WHOLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>.*?)\}\}\s*$", re.S)


def _default_actions() -> dict[str, Action[Any]]:
    return {action.name: action for action in builtin_actions()}


@dataclass
class FakeContext:
    """Satisfies ``ActionContext``; every side effect is recorded for assertions."""

    http: httpx.AsyncClient
    environ: dict[str, str] = field(default_factory=dict)
    sql_urls: dict[str, str] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    run_id: int = 1
    step_id: str = "step"
    actions: dict[str, Action[Any]] = field(default_factory=_default_actions)
    playbook_result: ActionResult = field(
        default_factory=lambda: ActionResult(summary="child run finished", value="ok")
    )

    sleeps: list[float] = field(default_factory=list)
    notifications: list[tuple[str, str | None]] = field(default_factory=list)
    playbook_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    action_calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def slept(self) -> float:
        """Total seconds asked of the clock."""
        return sum(self.sleeps)

    async def sleep(self, seconds: float) -> None:
        # Never actually sleeps: tests of waiting logic run instantly.
        self.sleeps.append(seconds)

    def evaluate(self, expression: str, extra: Mapping[str, Any]) -> Any:
        whole = _WHOLE_EXPRESSION.match(expression)
        bare = whole.group("expr") if whole else expression
        return evaluate(bare, {**self.variables, **extra})

    async def run_action(self, spec: Mapping[str, Any]) -> ActionResult:
        self.action_calls.append(dict(spec))
        action = self.actions[spec["action"]]
        args = action.parse({key: value for key, value in spec.items() if key != "action"})
        return await action.execute(args, self)

    async def notify(self, text: str, channel: str | None) -> str:
        self.notifications.append((text, channel))
        return "the run's thread" if channel is None else f"#{channel}"

    async def run_playbook(self, name: str, params: Mapping[str, Any]) -> ActionResult:
        self.playbook_calls.append((name, dict(params)))
        return self.playbook_result

    def sql_url(self, connection: str) -> str:
        return self.sql_urls[connection]
