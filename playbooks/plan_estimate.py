"""How long a run will take and what it will cost, before it runs. Pure.

Two figures, for two questions:

- :func:`estimate_playbook` — what the card shows: the playbook's declared ``estimate``, else
  the sum of what its steps say about themselves (a ``wait``'s duration, a ``poll``'s timeout),
  plus every sub-playbook's estimate. A playbook that declares none and whose steps say
  nothing (HTTP calls, queries, commands: only the run knows how long a service takes to
  answer) has an *unknown* estimate, not one of ~0s.
- :func:`least_seconds` — what every run must take whatever happens: the ``wait`` steps it
  always goes through. ``chatops check`` warns when a declared estimate is below it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from playbooks.actions.registry import ActionRegistry
from playbooks.conditions import decided_by_params
from playbooks.durations import format_duration, parse_duration
from playbooks.errors import PlaybookError, TemplateError
from playbooks.model import Estimate as DeclaredEstimate
from playbooks.model import Playbook, Step
from playbooks.params import resolve_params
from playbooks.plan_render import MADE_WHEN_IT_RUNS
from playbooks.templating import (
    DeferredValue,
    EnvView,
    SecretsView,
    UndecidedInDryRun,
    has_template,
    render_value,
)

__all__ = [
    "MAX_DEPTH",
    "Estimate",
    "Rate",
    "contains_deferred",
    "estimate_playbook",
    "format_estimate",
    "format_rate",
    "least_seconds",
    "plan_variables",
    "skipped_with",
    "sub_playbook_params",
]

MAX_DEPTH = 8
"""A chain of sub-playbooks deeper than this is surely a mistake the linter missed."""


@dataclass(frozen=True)
class Rate:
    """A playbook's own estimate per item of a list param: ``5m per model`` (count 2)."""

    unit: str
    count: int
    seconds: float
    cost_usd: float


@dataclass(frozen=True)
class Estimate:
    seconds: float = 0.0
    cost_usd: float = 0.0
    rate: Rate | None = None
    """Set when the total is a per-item estimate times the number of items, and only then."""
    known: bool = True
    """False when nothing gave the run a duration: no declared estimate, and no step that
    says how long it takes. Shown as "unknown"; a run of it is never called overdue."""

    def __add__(self, other: Estimate) -> Estimate:
        # A sub-playbook's time added to a per-item total makes it no longer per item.
        adds = bool(other.seconds or other.cost_usd)
        rate = self.rate if not adds else None
        return Estimate(
            self.seconds + other.seconds,
            self.cost_usd + other.cost_usd,
            rate,
            self.known or other.known,
        )


def format_rate(declared: DeclaredEstimate) -> str | None:
    """A per-item estimate as declared, before any items are known: ``5m per model · $0.05
    per model``; None when the estimate is not per item (or its figures are templates)."""
    if declared.per is None or has_template(declared.duration) or has_template(declared.cost_usd):
        return None
    unit = declared.unit_name
    cost = float(declared.cost_usd)
    money = f"${cost:,.2f} per {unit}" if cost else "$0"
    return f"{format_duration(parse_duration(declared.duration))} per {unit} · {money}"


def format_estimate(estimate: Estimate) -> str:
    """``~10m (5m per model) · $0.10 ($0.05 per model)``, ``~5s · $0``, or ``unknown``."""
    if not estimate.known:
        return "unknown"
    rate = estimate.rate
    text = f"~{format_duration(estimate.seconds)}"
    if rate is not None and rate.seconds:
        text += f" ({format_duration(rate.seconds)} per {rate.unit})"
    text += f" · ${estimate.cost_usd:,.2f}" if estimate.cost_usd else " · $0"
    if rate is not None and rate.cost_usd:
        text += f" (${rate.cost_usd:,.2f} per {rate.unit})"
    return text


def plan_variables(params: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Template variables for a dry run: results of steps are deferred, secrets stay hidden."""
    return {
        "params": dict(params),
        "steps": DeferredValue("steps"),
        "run": DeferredValue("run"),
        "env": EnvView(environ),
        "secrets": SecretsView(environ, reveal=False),
    }


def estimate_playbook(
    playbook: Playbook,
    params: Mapping[str, Any],
    registry: ActionRegistry,
    playbooks: Mapping[str, Playbook],
    environ: Mapping[str, str],
    *,
    depth: int,
) -> Estimate:
    """Upper bound of a run's duration and cost.

    The playbook's own ``estimate`` when it declares one, else the sum of its steps' own
    worst cases (waits, poll timeouts); plus every sub-playbook's estimate, conditional
    ones included.
    """
    if depth > MAX_DEPTH:
        raise PlaybookError(f"sub-playbooks nest deeper than {MAX_DEPTH} levels")
    variables = plan_variables(params, environ)
    own = _declared_estimate(playbook, variables)
    if own is None:
        taken = [s for s in playbook.steps if not skipped_with(s, params)]
        seconds = sum(_step_seconds(s, variables, registry) for s in taken)
        own = Estimate(seconds=seconds, known=seconds > 0)
    total = own
    for step in playbook.steps:
        if step.action != "playbook" or skipped_with(step, params):
            continue
        try:
            rendered = render_value(step.with_, variables)
        except UndecidedInDryRun:
            continue  # which sub-playbook, or with what, depends on an earlier result
        child = playbooks.get(str(rendered.get("name")))
        if child is None:
            continue
        child_params = sub_playbook_params(child, rendered.get("params"))
        if child_params is None:
            continue
        total += estimate_playbook(
            child, child_params, registry, playbooks, environ, depth=depth + 1
        )
    return total


def sub_playbook_params(child: Playbook, given: Any) -> dict[str, Any] | None:
    """The params a ``playbook`` step gives ``child``, resolved as far as a dry run knows
    them; None when they are only known at run time. ParamError when a literal one is bad.

    A value from an earlier step (``steps.x.output``) is not wrong, only unknown yet: the
    child's default stands in for it (unless it has none).
    """
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        return None  # all of them come from an earlier step
    deferred = {k for k, v in given.items() if k in child.params and contains_deferred(v)}
    if any(child.params[k].required for k in deferred):
        return None
    return resolve_params(child, {k: v for k, v in given.items() if k not in deferred})


def least_seconds(playbook: Playbook) -> tuple[float, list[str]]:
    """What every run of ``playbook`` takes at the least, and the steps that make it up.

    Only a ``wait`` takes a time known in advance; every other step may end at once (a poll
    whose condition holds at its first check, a request answered quickly). A step with a
    ``when`` may be skipped, a rollback step may never run, and a templated duration depends
    on params: none of those count. Sub-playbooks are not counted either: a declared
    estimate is the playbook's own, and theirs are added to it.
    """
    seconds = 0.0
    steps: list[str] = []
    for step in playbook.steps:
        if step.action != "wait" or step.when is not None:
            continue
        duration = step.with_.get("duration")
        if has_template(duration):
            continue
        try:
            seconds += parse_duration(duration)
        except ValueError:
            continue  # `chatops check` reports it with the step's arguments
        steps.append(step.id)
    return seconds, steps


def _declared_estimate(playbook: Playbook, variables: Mapping[str, Any]) -> Estimate | None:
    declared = playbook.estimate
    if not declared.duration and not declared.cost_usd:
        return None
    duration = render_value(declared.duration, variables)
    try:
        seconds = parse_duration(duration)
    except ValueError:
        raise TemplateError(f"estimate.duration rendered to {duration!r}, not a duration") from None
    cost = render_value(declared.cost_usd, variables)
    try:
        cost_usd = float(cost)
    except (TypeError, ValueError):
        raise TemplateError(f"estimate.cost_usd rendered to {cost!r}, not a number") from None
    if declared.per is None:
        return Estimate(seconds, cost_usd)
    items = variables["params"].get(declared.per) or []
    count = len(items)
    rate = Rate(declared.unit_name, count, seconds, cost_usd)
    return Estimate(seconds * count, cost_usd * count, rate)


def skipped_with(step: Step, params: Mapping[str, Any]) -> bool:
    """Whether the run will skip ``step`` with these params (its condition reads only them)."""
    try:
        return decided_by_params(step.when, params) is False
    except TemplateError:
        return False  # the run fails that step instead; count it


def _step_seconds(step: Step, variables: Mapping[str, Any], registry: ActionRegistry) -> float:
    action = registry.get(step.action)
    if action is None or step.action == "playbook":
        return 0.0
    raw = {k: v for k, v in step.with_.items() if k not in action.lazy_args}
    lazy = {k: v for k, v in step.with_.items() if k in action.lazy_args}
    try:
        return action.estimate_seconds(action.parse({**render_value(raw, variables), **lazy}))
    except (TemplateError, ValidationError, UndecidedInDryRun):
        # A message that branches on an earlier result (`{% if steps.x.ok %}`) takes no time.
        return 0.0


def contains_deferred(value: Any) -> bool:
    """Whether ``value`` holds a result only the run will know (``<steps.x.output>``)."""
    if isinstance(value, DeferredValue):
        return True
    if isinstance(value, dict):
        return any(contains_deferred(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_deferred(v) for v in value)
    return isinstance(value, str) and ("<steps." in value or MADE_WHEN_IT_RUNS in value)
