"""Dry runs: what each step of a playbook would do with given params, and what it would cost.

Everything here is pure: no action is executed and no request is sent.

A plan warns about everything a run would find missing, before it runs: every environment
variable and secret a step reads (a poll's check too), every one an action reads by default
(``PROMETHEUS_URL``), every SQL connection and notify channel the config lacks (and a
connection's unset URL variable), and all of those for the sub-playbooks it runs, planned in
turn with the params it gives them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import takewhile
from typing import Any

from pydantic import BaseModel, ValidationError

from playbooks.actions.base import Action
from playbooks.actions.registry import ActionRegistry
from playbooks.conditions import decided_by_params
from playbooks.describe import describe_condition
from playbooks.errors import ParamError, PlaybookError, TemplateError
from playbooks.lint.config_names import ConfigNames, undefined_name
from playbooks.model import ApprovalPolicy, Playbook, Step
from playbooks.params import resolve_params
from playbooks.plan_estimate import (
    MAX_DEPTH,
    Estimate,
    Rate,
    contains_deferred,
    estimate_playbook,
    format_estimate,
    format_rate,
    plan_variables,
    sub_playbook_params,
)
from playbooks.plan_render import Branch, render_for_plan
from playbooks.templating import UndecidedInDryRun, evaluate_condition, render_value

__all__ = [
    "Estimate",
    "Plan",
    "PlannedStep",
    "Problem",
    "Rate",
    "approval_required",
    "build_plan",
    "estimate_playbook",
    "format_estimate",
    "format_rate",
    "plan_variables",
    "render_changes",
]


@dataclass(frozen=True)
class Problem:
    """Something a step would fail on: ``reason``, met ``within`` the sub-playbooks named
    (outermost first; none when it is the step's own)."""

    reason: str
    within: tuple[str, ...] = ()

    def __str__(self) -> str:
        if not self.within:
            return self.reason
        return f"{self.reason} (in `{' → '.join(self.within)}`)"


@dataclass(frozen=True)
class PlannedStep:
    id: str
    text: str
    condition: str | None = None
    """A condition only the run can decide (it reads earlier steps' results)."""
    problems: tuple[Problem, ...] = ()
    gated: bool = False  # the step has its own approval gate
    skipped: bool = False
    """Its condition reads only params and is false with these: the run will skip it."""

    @property
    def problem(self) -> str | None:
        """Every problem of the step in one line; None when it has none."""
        return "; ".join(str(p) for p in self.problems) or None


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


def build_plan(
    playbook: Playbook,
    given: Mapping[str, Any],
    registry: ActionRegistry,
    playbooks: Mapping[str, Playbook],
    environ: Mapping[str, str],
    *,
    names: ConfigNames | None = None,
) -> Plan:
    """The dry-run plan of ``playbook`` with the user's ``given`` params (ParamError if bad).

    With ``names`` (what the config defines), the connections and channels steps name are
    checked against it.
    """
    params = resolve_params(playbook, given)
    planner = _Planner(registry, playbooks, environ, names)
    outer = (playbook.name,)
    steps = [planner.step(step, params, outer) for step in playbook.steps]
    rollback = [planner.step(step, params, outer) for step in playbook.rollback]
    problems = _grouped([*steps, *rollback])
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


def _grouped(steps: Sequence[PlannedStep]) -> list[str]:
    """One line per problem, naming every step that meets it: ``a, b (clear-cache): …``."""
    where: dict[str, list[str]] = {}
    for step in steps:
        for problem in step.problems:
            place = step.id
            if problem.within:
                place += f" ({' → '.join(problem.within)})"
            places = where.setdefault(problem.reason, [])
            if place not in places:
                places.append(place)
    return [f"{', '.join(places)}: {reason}" for reason, places in where.items()]


class _Planner:
    """Plans steps against one catalog, environment and config."""

    def __init__(
        self,
        registry: ActionRegistry,
        playbooks: Mapping[str, Playbook],
        environ: Mapping[str, str],
        names: ConfigNames | None,
    ) -> None:
        self.registry = registry
        self.playbooks = playbooks
        self.environ = environ
        self.names = names

    def step(self, step: Step, params: Mapping[str, Any], outer: tuple[str, ...]) -> PlannedStep:
        """The dry-run line of one step; a template or argument problem is reported, not
        raised. ``outer`` names the playbooks it is planned within (outermost first).

        A condition that reads only params is decided here: the step is shown as skipped,
        or with no condition at all. A step skipped with these params reports no problem
        (its arguments may need a setting that only the other branch uses).
        """
        try:
            decided = decided_by_params(step.when, params)
        except TemplateError as exc:
            return PlannedStep(step.id, step.name or step.action, step.when, (Problem(exc.reason),))
        if decided is False:
            shown = self._line(step, None, params, outer)
            text = step.name or step.action if shown.problems else shown.text
            return PlannedStep(step.id, text, None, gated=step.approval is not None, skipped=True)
        condition = step.when.strip() if step.when and decided is None else None
        return self._line(step, condition, params, outer)

    def _line(
        self,
        step: Step,
        condition: str | None,
        params: Mapping[str, Any],
        outer: tuple[str, ...],
    ) -> PlannedStep:
        gated = step.approval is not None
        action = self.registry.get(step.action)
        if action is None:
            problem = Problem(f"unknown action `{step.action}`")
            return PlannedStep(step.id, step.action, condition, (problem,), gated)
        # A lazy argument is the action's own to evaluate (a poll's `until`) and is shown as
        # written; one that is an action spec (a poll's `check`) renders like the step's own.
        shown = {k: v for k, v in step.with_.items() if k not in action.lazy_args or _spec(v)}
        kept = {k: v for k, v in step.with_.items() if k not in shown}
        try:
            rendered = render_for_plan(shown, params, self.environ)
        except TemplateError as exc:
            return PlannedStep(
                step.id, step.name or step.action, condition, (Problem(exc.reason),), gated
            )
        problems = [Problem(reason) for reason in rendered.unset]
        texts: list[tuple[Branch, str]] = []
        for branch in rendered.branches:
            arguments = {**branch.value, **kept}
            try:
                args = action.parse(arguments)
            except ValidationError as exc:
                if contains_deferred(branch.value):
                    # Depends on an earlier step's result: show the arguments as written.
                    texts.append((branch, _as_written(step.action, branch.value)))
                    continue
                if rendered.unset:
                    continue  # a stand-in for the unset variable is what it refuses
                first = exc.errors(include_url=False)[0]
                where = ".".join(str(p) for p in first["loc"])
                problem = Problem(f"with.{where}: {first['msg']}")
                return PlannedStep(step.id, step.action, condition, (problem,), gated)
            problems += [Problem(reason) for reason in self._needs(step.action, action, args)]
            if step.action == "playbook":
                problems += self._sub_playbook(branch.value, outer)
            try:
                texts.append((branch, action.plan(args)))
            except UndecidedInDryRun:
                texts.append((branch, _as_written(step.action, branch.value)))
        if rendered.unset or not texts:
            # Stand-ins fill the unset variables: the step's name says what it does instead.
            text = step.name or step.action
        else:
            text = _branch_text(texts)
            if step.name:
                text = f"{step.name}: {text}"
        return PlannedStep(step.id, text, condition, tuple(dict.fromkeys(problems)), gated)

    def _needs(self, name: str, action: Action[Any], args: BaseModel) -> list[str]:
        """What the action, with these arguments, needs that is not there: variables it
        reads by default, a connection or channel the config lacks; a poll's check too."""
        found = [
            f"environment variable {variable} is not set"
            for variable in action.environment(args)
            if not self.environ.get(variable)
        ]
        names = self.names
        connection = getattr(args, "connection", None)
        channel = getattr(args, "channel", None)
        if names is not None and name == "sql" and isinstance(connection, str):
            variable = names.connection_env.get(connection)
            if connection not in names.connections:
                found.append(undefined_name(names, "connection", connection, names.connections))
            elif variable and not self.environ.get(variable):
                found.append(
                    f"connection `{connection}` reads its URL from {variable}, which is not set"
                )
        if (
            names is not None
            and name == "notify"
            and isinstance(channel, str)
            and (channel not in names.channels)
        ):
            found.append(undefined_name(names, "channel", channel, names.channels))
        check = getattr(args, "check", None)
        if name == "poll" and isinstance(check, dict) and isinstance(check.get("action"), str):
            checker = self.registry.get(check["action"])
            if checker is not None:
                try:
                    parsed = checker.parse({k: v for k, v in check.items() if k != "action"})
                except ValidationError:
                    return found  # `chatops check` names it; the run fails the step on it
                found += self._needs(check["action"], checker, parsed)
        return found

    def _sub_playbook(self, value: Mapping[str, Any], outer: tuple[str, ...]) -> list[Problem]:
        """The problems of the sub-playbook a ``playbook`` step runs, planned with the params
        it is given (each named by where it is met); none when they are known only at run
        time. A loop, which ``chatops check`` refuses, is named rather than followed."""
        child = self.playbooks.get(str(value.get("name")))
        if child is None:
            return []  # `chatops check` refuses it; the run fails the step on it
        if child.name in outer or len(outer) > MAX_DEPTH:
            return [Problem(f"sub-playbooks call each other: {' → '.join((*outer, child.name))}")]
        try:
            params = sub_playbook_params(child, value.get("params"))
        except ParamError:
            return []  # the estimate reports it, with the reason
        if params is None:
            return []
        found: list[Problem] = []
        for step in [*child.steps, *child.rollback]:
            planned = self.step(step, params, (*outer, child.name))
            found += [Problem(p.reason, (child.name, *p.within)) for p in planned.problems]
        return found


def _spec(value: Any) -> bool:
    """Whether a lazy argument is an action spec (``{action: http, url: …}``)."""
    return isinstance(value, dict) and isinstance(value.get("action"), str)


def _as_written(action: str, value: Mapping[str, Any]) -> str:
    return f"{action} " + ", ".join(f"{k}={v}" for k, v in value.items())


def _branch_text(texts: Sequence[tuple[Branch, str]]) -> str:
    """One line for every branch of a step: ``post in the run's thread: if `monitor`
    succeeded, “…”; otherwise “…”`` (only the part after what every branch shares differs)."""
    lines = [text for _, text in texts]
    if len(set(lines)) == 1:
        return lines[0]
    shared = "".join(c[0] for c in takewhile(lambda c: len(set(c)) == 1, zip(*lines, strict=False)))
    cut = shared.rfind(": ")
    head = shared[: cut + 2] if cut >= 0 else ""
    parts = [f"if {_assumed(branch)}, {text[len(head) :]}" for branch, text in texts[:-1]]
    parts.append(f"otherwise {texts[-1][1][len(head) :]}")
    return head + "; ".join(parts)


def _assumed(branch: Branch) -> str:
    return " and ".join(
        describe_condition(path if value else f"not {path}") for path, value in branch.assumed
    )
