"""Dry runs: what each step of a playbook would do with given params, and what it would cost.

Everything here is pure: no action is executed and no request is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from playbooks.actions.registry import ActionRegistry
from playbooks.conditions import decided_by_params, names_read
from playbooks.durations import format_duration, parse_duration
from playbooks.errors import ParamError, PlaybookError, TemplateError
from playbooks.model import ApprovalPolicy, Playbook, Step
from playbooks.model import Estimate as DeclaredEstimate
from playbooks.params import resolve_params
from playbooks.templating import (
    DeferredValue,
    EnvView,
    SecretsView,
    UndecidedInDryRun,
    evaluate_condition,
    has_template,
    render_value,
)

__all__ = [
    "Estimate",
    "Plan",
    "PlannedStep",
    "Rate",
    "approval_required",
    "build_plan",
    "format_estimate",
    "format_rate",
    "plan_variables",
    "render_changes",
]

# A chain of sub-playbooks deeper than this is surely a mistake the linter missed.
_MAX_DEPTH = 8


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

    def __add__(self, other: Estimate) -> Estimate:
        # A sub-playbook's time added to a per-item total makes it no longer per item.
        adds = bool(other.seconds or other.cost_usd)
        rate = self.rate if not adds else None
        return Estimate(self.seconds + other.seconds, self.cost_usd + other.cost_usd, rate)


@dataclass(frozen=True)
class PlannedStep:
    id: str
    text: str
    condition: str | None = None
    """A condition only the run can decide (it reads earlier steps' results)."""
    problem: str | None = None
    gated: bool = False  # the step has its own approval gate
    skipped: bool = False
    """Its condition reads only params and is false with these: the run will skip it."""


@dataclass(frozen=True)
class Plan:
    playbook: Playbook
    params: Mapping[str, Any]
    steps: list[PlannedStep]
    rollback: list[PlannedStep]
    estimate: Estimate
    needs_approval: bool
    problems: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    """What the run will change, in plain words (the playbook's ``changes``, rendered)."""


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
    """``~10m (5m per model) · $0.10 ($0.05 per model)``, or ``~5s · $0``."""
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


def build_plan(
    playbook: Playbook,
    given: Mapping[str, Any],
    registry: ActionRegistry,
    playbooks: Mapping[str, Playbook],
    environ: Mapping[str, str],
) -> Plan:
    """The dry-run plan of ``playbook`` with the user's ``given`` params (ParamError if bad)."""
    params = resolve_params(playbook, given)
    variables = plan_variables(params, environ)
    steps = [plan_step(step, variables, registry) for step in playbook.steps]
    rollback = [plan_step(step, variables, registry) for step in playbook.rollback]
    problems = [f"{s.id}: {s.problem}" for s in [*steps, *rollback] if s.problem]
    try:
        changes = render_changes(playbook, params)
    except TemplateError as exc:
        problems.append(f"changes: {exc.reason}")
        changes = []
    try:
        estimate = estimate_playbook(playbook, params, registry, playbooks, environ, depth=0)
    except (TemplateError, ParamError, PlaybookError) as exc:
        problems.append(f"estimate: {exc.reason}")
        estimate = Estimate()
    return Plan(
        playbook=playbook,
        params=params,
        steps=steps,
        rollback=rollback,
        estimate=estimate,
        needs_approval=approval_required(playbook.approval, params),
        problems=problems,
        changes=changes,
    )


def render_changes(playbook: Playbook, params: Mapping[str, Any]) -> list[str]:
    """The playbook's ``changes`` with these params; a line that renders empty is left out,
    so ``{% if params.reindex %}…{% endif %}`` states a change only when it applies."""
    variables = {"params": dict(params)}
    rendered = (render_value(line, variables) for line in playbook.changes)
    return [text for text in (" ".join(str(line).split()) for line in rendered) if text]


def approval_required(policy: ApprovalPolicy | None, params: Mapping[str, Any]) -> bool:
    """Whether ``policy`` asks for approval with these params."""
    if policy is None:
        return False
    return evaluate_condition(policy.required, {"params": dict(params)})


def plan_step(step: Step, variables: Mapping[str, Any], registry: ActionRegistry) -> PlannedStep:
    """The dry-run line of one step; a template or argument problem is reported, not raised.

    A condition that reads only params is decided here: the step is shown as skipped, or
    with no condition at all. A step skipped with these params reports no problem (its
    arguments may need a setting that only the other branch uses).
    """
    try:
        decided = decided_by_params(step.when, variables["params"])
    except TemplateError as exc:
        return PlannedStep(step.id, step.name or step.action, step.when, exc.reason)
    if decided is False:
        shown = _plan_line(step, None, variables, registry)
        text = step.name or step.action if shown.problem else shown.text
        return PlannedStep(step.id, text, None, None, gated=step.approval is not None, skipped=True)
    condition = step.when.strip() if step.when and decided is None else None
    return _plan_line(step, condition, variables, registry)


def _plan_line(
    step: Step, condition: str | None, variables: Mapping[str, Any], registry: ActionRegistry
) -> PlannedStep:
    action = registry.get(step.action)
    if action is None:
        return PlannedStep(step.id, step.action, condition, f"unknown action `{step.action}`")
    raw = {k: v for k, v in step.with_.items() if k not in action.lazy_args}
    rendered: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            rendered[key] = render_value(value, variables)
        except UndecidedInDryRun:
            # Branches on an earlier step's result: show this argument as written.
            rendered[key] = value
        except TemplateError as exc:
            if not _reads_run_results(value):
                return PlannedStep(step.id, step.name or step.action, condition, exc.reason)
            # Computes with an earlier step's result (`steps.a.value - 1`), which a dry run
            # only has a stand-in for: show this argument as written.
            rendered[key] = value
    lazy = {k: _shown(v, variables) for k, v in step.with_.items() if k in action.lazy_args}
    try:
        text = action.plan(action.parse({**rendered, **lazy}))
    except ValidationError as exc:
        if _contains_deferred(rendered):
            # Depends on an earlier step's result: show the arguments as written.
            text = f"{step.action} " + ", ".join(f"{k}={v}" for k, v in rendered.items())
        else:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            return PlannedStep(step.id, step.action, condition, f"with.{where}: {first['msg']}")
    if step.name:
        text = f"{step.name}: {text}"
    return PlannedStep(step.id, text, condition, gated=step.approval is not None)


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
    if depth > _MAX_DEPTH:
        raise PlaybookError(f"sub-playbooks nest deeper than {_MAX_DEPTH} levels")
    variables = plan_variables(params, environ)
    own = _declared_estimate(playbook, variables)
    if own is None:
        taken = [s for s in playbook.steps if not _skipped(s, params)]
        own = Estimate(seconds=sum(_step_seconds(s, variables, registry) for s in taken))
    total = own
    for step in playbook.steps:
        if step.action != "playbook" or _skipped(step, params):
            continue
        try:
            rendered = render_value(step.with_, variables)
        except UndecidedInDryRun:
            continue  # which sub-playbook, or with what, depends on an earlier result
        child = playbooks.get(str(rendered.get("name")))
        if child is None:
            continue
        given = rendered.get("params", {})
        if given is None:
            given = {}
        if not isinstance(given, Mapping):
            continue  # all of them come from an earlier step: nothing to estimate yet
        # A value from an earlier step (`steps.x.output`) is only known at run time: it is
        # not wrong, so estimate with the child's default for it.
        deferred = {k for k, v in given.items() if k in child.params and _contains_deferred(v)}
        if any(child.params[k].required for k in deferred):
            continue  # without its required value there is nothing to estimate yet
        child_params = resolve_params(child, {k: v for k, v in given.items() if k not in deferred})
        total += estimate_playbook(
            child, child_params, registry, playbooks, environ, depth=depth + 1
        )
    return total


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


def _reads_run_results(value: Any) -> bool:
    """Whether a template in ``value`` reads what only a run knows (``steps``, ``run``)."""
    if isinstance(value, dict):
        return any(_reads_run_results(item) for item in value.values())
    if isinstance(value, list):
        return any(_reads_run_results(item) for item in value)
    if not has_template(value):
        return False
    names = names_read(value)
    return names is not None and bool(names & {"steps", "run"})


def _shown(value: Any, variables: Mapping[str, Any]) -> Any:
    """A lazy argument as the plan shows it: an action spec (a poll's ``check``) rendered
    as far as a dry run can, anything else (a condition over ``value``) as written."""
    if not isinstance(value, dict):
        return value
    try:
        return render_value(value, variables)
    except (TemplateError, UndecidedInDryRun):
        return value


def _skipped(step: Step, params: Mapping[str, Any]) -> bool:
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


def _contains_deferred(value: Any) -> bool:
    if isinstance(value, DeferredValue):
        return True
    if isinstance(value, dict):
        return any(_contains_deferred(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_deferred(v) for v in value)
    return isinstance(value, str) and "<steps." in value
