"""What an executing action sees of the engine (the ActionContext of playbooks.actions.base)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx

from bot.clock import Clock
from bot.db.records import RunRecord, StepRecord
from bot.engine.observer import RunObserver
from bot.lifecycle import StepStatus
from playbooks.actions.base import ActionResult, MisconfiguredError
from playbooks.actions.registry import ActionRegistry
from playbooks.errors import ChatOpsError
from playbooks.model import Step
from playbooks.templating import evaluate_condition, render_value

__all__ = ["StepContext", "StepEngine", "step_view"]


class StepEngine(Protocol):
    """What a step's context asks of the engine running it (the executor is one)."""

    http: httpx.AsyncClient
    environ: Mapping[str, str]
    clock: Clock
    registry: ActionRegistry
    observer: RunObserver
    sql_url: Callable[[str], str]

    async def run_child(
        self, parent: RunRecord, step: Step, name: str, params: Mapping[str, Any]
    ) -> ActionResult:
        """Run a sub-playbook as a child of ``parent``; ActionError unless it succeeds."""
        ...


def step_view(record: StepRecord, result: ActionResult | None) -> dict[str, Any]:
    """``steps.ID`` in templates: status flags, the summary, the output and the value."""
    return {
        "status": record.status.value,
        "ok": record.status is StepStatus.SUCCEEDED,
        "failed": record.status is StepStatus.FAILED,
        "skipped": record.status is StepStatus.SKIPPED,
        "summary": record.summary,
        "output": record.output,
        "error": record.error,
        "value": result.value if result else None,
        "data": dict(result.data) if result else {},
    }


class StepContext:
    """One step's view of the engine."""

    def __init__(
        self, *, executor: StepEngine, run: RunRecord, step: Step, variables: dict[str, Any]
    ) -> None:
        self._executor = executor
        self._run = run
        self._step = step
        self._variables = variables

    @property
    def run_id(self) -> int:
        return self._run.id

    @property
    def step_id(self) -> str:
        return self._step.id

    @property
    def http(self) -> httpx.AsyncClient:
        return self._executor.http

    @property
    def environ(self) -> Mapping[str, str]:
        return self._executor.environ

    async def sleep(self, seconds: float) -> None:
        await self._executor.clock.sleep(seconds)

    def evaluate(self, expression: str, extra: Mapping[str, Any]) -> Any:
        return evaluate_condition(expression, {**self._variables, **extra})

    async def run_action(self, spec: Mapping[str, Any]) -> ActionResult:
        name = spec.get("action")
        action = self._executor.registry.get(str(name))
        if action is None:
            raise MisconfiguredError(f"unknown action `{name}`")
        raw = {k: v for k, v in spec.items() if k != "action"}
        eager = {k: v for k, v in raw.items() if k not in action.lazy_args}
        lazy = {k: v for k, v in raw.items() if k in action.lazy_args}
        try:
            args = action.parse({**render_value(eager, self._variables), **lazy})
        except ChatOpsError:
            raise
        except ValueError as exc:  # pydantic's ValidationError
            raise MisconfiguredError(f"bad arguments for `{name}`: {exc}") from exc
        return await action.execute(args, self)

    async def notify(self, text: str, channel: str | None) -> str:
        return await self._executor.observer.notify(self._run, text, channel)

    async def run_playbook(self, name: str, params: Mapping[str, Any]) -> ActionResult:
        return await self._executor.run_child(self._run, self._step, name, params)

    def sql_url(self, connection: str) -> str:
        try:
            return self._executor.sql_url(connection)
        except ChatOpsError as exc:  # the config's ConfigError: no such connection, …
            raise MisconfiguredError(exc.reason) from exc
