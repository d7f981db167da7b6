"""Schema checks: the playbook model (pydantic), step ids used twice, and each param's spec."""

from __future__ import annotations

from pydantic import ValidationError

from playbooks.errors import PlaybookFileError
from playbooks.lint.checked_file import CheckedFile
from playbooks.model import ParamSpec, Playbook, estimate_per_problem
from playbooks.params import coerce_param
from playbooks.yamlsource import validation_problems

__all__ = ["check_params", "check_schema"]


def check_schema(checked: CheckedFile) -> Playbook | None:
    """The playbook if its schema holds; every schema error (and duplicate id) if not."""
    located = [*_duplicate_step_ids(checked), *_estimate_per(checked)]
    try:
        playbook = Playbook.model_validate({**checked.data, "source": checked.located.path})
    except ValidationError as exc:
        problems = validation_problems(checked.located, exc)
        if located:
            # The model's own errors about the whole file have no line: report ours, which do.
            problems = [p for p in problems if p.field is not None]
        checked.errors += [*problems, *located]
        return None
    checked.errors += located
    return playbook


def _estimate_per(checked: CheckedFile) -> list[PlaybookFileError]:
    """``estimate.per`` must name a list param (the model says so too, without a line)."""
    estimate = checked.data.get("estimate")
    params = checked.data.get("params") or {}
    if not isinstance(estimate, dict) or "per" not in estimate or not isinstance(params, dict):
        return []
    specs: dict[str, ParamSpec] = {}
    for name, raw in params.items():
        try:
            specs[str(name)] = ParamSpec.model_validate(raw)
        except ValidationError:
            return []  # the schema check says why; `per` cannot be judged meanwhile
    problem = estimate_per_problem(estimate["per"], specs)
    return [] if problem is None else [checked.problem(("estimate", "per"), problem)]


def _duplicate_step_ids(checked: CheckedFile) -> list[PlaybookFileError]:
    """Every step (or rollback step) whose id an earlier one already uses."""
    problems = []
    first_line: dict[str, int | None] = {}
    for section, index, step in checked.sections():
        step_id = step.get("id")
        if not isinstance(step_id, str):
            continue
        loc = (section, index, "id")
        if step_id in first_line:
            problems.append(
                checked.problem(
                    loc,
                    f"step id `{step_id}` is used twice (first on line {first_line[step_id]})",
                )
            )
        else:
            first_line[step_id] = checked.located.line_of(loc)
    return problems


def check_params(checked: CheckedFile) -> None:
    """Each param's default must pass its own spec, and its bounds must leave room for one."""
    params = checked.data.get("params")
    for name, raw in (params if isinstance(params, dict) else {}).items():
        try:
            spec = ParamSpec.model_validate(raw)
        except ValidationError:
            continue  # the schema check said why
        if spec.default is not None:
            try:
                coerce_param(spec, spec.default)
            except ValueError as exc:
                checked.error(("params", name, "default"), str(exc))
        if spec.required and spec.default is not None:
            checked.errors.append(
                PlaybookFileError(
                    checked.located.path,
                    checked.located.line_of(("params", name, "required")),
                    f"params.{name}",
                    "a required parameter cannot have a default",
                )
            )
        if spec.min is not None and spec.max is not None and spec.min > spec.max:
            checked.error(
                ("params", name, "min"),
                f"`min` ({_number(spec.min)}) is greater than `max` ({_number(spec.max)}):"
                " no value can pass",
            )


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)
