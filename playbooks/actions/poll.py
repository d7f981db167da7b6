"""The ``poll`` action: repeat a check action until a condition holds, or give up."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, field_validator

from playbooks.actions.base import (
    Action,
    ActionArgs,
    ActionContext,
    ActionResult,
    MisconfiguredError,
)
from playbooks.durations import Duration, format_duration
from playbooks.errors import ActionError, TemplateError

__all__ = ["PollAction", "PollArgs", "max_checks"]

_WHOLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>.*?)\}\}\s*$", re.S)
_VALUE_LIMIT = 60
# Arguments that best say what a check looks at, in order of preference, for plan().
_KEY_ARGS = ("query", "url", "argv", "name", "message", "duration")


class PollArgs(ActionArgs):
    """``with:`` arguments of the ``poll`` action."""

    check: dict[str, Any]
    until: str = Field(min_length=1)
    every: Duration = 30.0
    timeout: Duration = 300.0

    @field_validator("check")
    @classmethod
    def _names_an_action(cls, value: dict[str, Any]) -> dict[str, Any]:
        action = value.get("action")
        if not isinstance(action, str) or not action:
            raise ValueError("`check` must name an action, e.g. {action: prometheus, query: ...}")
        if action == "poll":
            raise ValueError("`check` cannot be another poll")
        return value

    @field_validator("every")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("`every` must be longer than 0s")
        return value


def max_checks(args: PollArgs) -> int:
    """How many checks fit: one now, then one after each ``every`` within ``timeout``."""
    return math.floor(args.timeout / args.every) + 1


def _condition(until: str) -> str:
    whole = _WHOLE_EXPRESSION.match(until)
    return (whole.group("expr") if whole else until).strip()


def _short(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, str):
        text = value
    else:
        # ``default=str``: a value may be anything a check returns (or a dry-run placeholder).
        text = json.dumps(value, default=str, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= _VALUE_LIMIT else text[: _VALUE_LIMIT - 1] + "…"


def _checks(count: int) -> str:
    return f"{count} check" if count == 1 else f"{count} checks"


def _describe_check(check: Mapping[str, Any]) -> str:
    args = {key: value for key, value in check.items() if key != "action"}
    key = next((name for name in _KEY_ARGS if name in args), next(iter(args), None))
    if key is None:
        return str(check["action"])
    value = args[key]
    shown = " ".join(value) if isinstance(value, list) and key == "argv" else _short(value)
    return f"{check['action']} ({key} `{shown}`)"


class PollAction(Action[PollArgs]):
    """Run ``check`` every ``every`` until ``until`` is true or ``timeout`` has passed."""

    name: ClassVar[str] = "poll"
    Args = PollArgs
    summary: ClassVar[str] = "Repeat a check action until a condition on its value holds."
    lazy_args: ClassVar[frozenset[str]] = frozenset({"check", "until"})

    def plan(self, args: PollArgs) -> str:
        return (
            f"every {format_duration(args.every)} for up to {format_duration(args.timeout)}: "
            f"{_describe_check(args.check)} until `{_condition(args.until)}`"
        )

    async def execute(self, args: PollArgs, ctx: ActionContext) -> ActionResult:
        condition = _condition(args.until)
        limit = max_checks(args)
        last_value: Any = None
        last_error: str | None = None
        # Counting checks rather than reading a clock keeps the bound exact on any clock
        # (the engine's may be a fake one in tests).
        for count in range(1, limit + 1):
            try:
                result = await ctx.run_action(args.check)
            except MisconfiguredError:
                raise  # a check that cannot work will not start working: fail now
            except ActionError as exc:
                # A check failing (target still restarting, …) is "not yet", not the end.
                last_error = exc.reason
            else:
                last_value, last_error = result.value, None
                try:
                    met = bool(
                        ctx.evaluate(args.until, {"value": result.value, "result": result.data})
                    )
                except TemplateError as exc:
                    # A broken condition will not fix itself: fail now instead of at timeout.
                    raise ActionError(f"cannot evaluate `{condition}`: {exc.reason}") from exc
                if met:
                    return ActionResult(
                        summary=(
                            f"condition `{condition}` met after {_checks(count)} "
                            f"(value {_short(result.value)})"
                        ),
                        output=result.output,
                        value=result.value,
                        data={"checks": count, "result": dict(result.data)},
                    )
            if count < limit:
                await ctx.sleep(args.every)

        last = f"last error: {last_error}" if last_error else f"last value {_short(last_value)}"
        raise ActionError(
            f"`{condition}` not met within {format_duration(args.timeout)} "
            f"after {_checks(limit)} ({last})"
        )

    def estimate_seconds(self, args: PollArgs) -> float:
        return args.timeout
