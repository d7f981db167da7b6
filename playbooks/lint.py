"""Parse one playbook file and check it deeply; every problem names file, line and field."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import ValidationError

from playbooks.actions.registry import ActionRegistry
from playbooks.errors import PlaybookFileError
from playbooks.model import Playbook, Step
from playbooks.params import coerce_param
from playbooks.templating import has_template
from playbooks.yamlsource import LocatedYaml, dotted_field, load_yaml, validation_problems

__all__ = ["lint_catalog", "parse_playbook"]

_SYNTAX = SandboxedEnvironment()


def parse_playbook(
    path: Path, registry: ActionRegistry, *, text: str | None = None
) -> tuple[Playbook | None, list[PlaybookFileError]]:
    """The playbook in ``path`` and its problems (bad YAML raises PlaybookFileError)."""
    located = load_yaml(path, text=text)
    if not isinstance(located.data, dict):
        return None, [PlaybookFileError(str(path), 1, None, "a playbook file is a mapping")]
    duplicates = _duplicate_step_ids(located)
    try:
        playbook = Playbook.model_validate({**located.data, "source": str(path)})
    except ValidationError as exc:
        # The model's own duplicate-id error has no line: report ours, which has one.
        problems = validation_problems(located, exc)
        if duplicates:
            problems = [p for p in problems if p.field is not None]
        return None, [*problems, *duplicates]
    problems = [
        *_check_templates(located, located.data, ()),
        *_check_params(located, playbook),
        *_check_steps(located, playbook, registry),
    ]
    return playbook, problems


def lint_catalog(playbooks: Mapping[str, Playbook]) -> list[PlaybookFileError]:
    """Cross-file problems: sub-playbooks that do not exist, and cycles between playbooks."""
    problems = []
    for playbook in playbooks.values():
        found: list[tuple[tuple[str | int, ...], str]] = []
        cycle = _find_cycle(playbook.name, playbooks)
        for section, steps in (("steps", playbook.steps), ("rollback", playbook.rollback)):
            for index, step in enumerate(steps):
                target = step.with_.get("name") if step.action == "playbook" else None
                if not isinstance(target, str) or has_template(target):
                    continue
                loc = (section, index, "with", "name")
                if target not in playbooks:
                    found.append((loc, f"no playbook named `{target}`"))
                elif cycle and target == cycle[1]:
                    found.append((loc, f"playbooks call each other: {' → '.join(cycle)}"))
                    cycle = []  # once per playbook, at the first call that closes it
        if found:
            lines = _lines_of(playbook)
            problems += [
                PlaybookFileError(playbook.source, lines.line_of(loc), dotted_field(loc), problem)
                for loc, problem in found
            ]
    return problems


def _lines_of(playbook: Playbook) -> LocatedYaml:
    """Where things are in ``playbook``'s file, to name lines; no lines if it cannot be read."""
    try:
        return load_yaml(Path(playbook.source))
    except PlaybookFileError:
        return LocatedYaml(playbook.source, None)


def _duplicate_step_ids(located: LocatedYaml) -> list[PlaybookFileError]:
    """Every step (or rollback step) whose id an earlier one already uses."""
    problems = []
    first_line: dict[str, int | None] = {}
    for section in ("steps", "rollback"):
        steps = located.data.get(section)
        for index, step in enumerate(steps if isinstance(steps, list) else []):
            step_id = step.get("id") if isinstance(step, dict) else None
            if not isinstance(step_id, str):
                continue
            loc = (section, index, "id")
            if step_id in first_line:
                problems.append(
                    PlaybookFileError(
                        located.path,
                        located.line_of(loc),
                        dotted_field(loc),
                        f"step id `{step_id}` is used twice (first on line {first_line[step_id]})",
                    )
                )
            else:
                first_line[step_id] = located.line_of(loc)
    return problems


def _find_cycle(start: str, playbooks: Mapping[str, Playbook]) -> list[str]:
    """A chain of sub-playbook calls from ``start`` back to itself, or []."""
    stack = [(start, [start])]
    visited: set[str] = set()
    while stack:
        name, path = stack.pop()
        for target in _sub_playbooks(playbooks.get(name)):
            if target == start:
                return [*path, start]
            if target not in visited:
                visited.add(target)
                stack.append((target, [*path, target]))
    return []


def _sub_playbooks(playbook: Playbook | None) -> list[str]:
    if playbook is None:
        return []
    return [
        step.with_["name"]
        for step in [*playbook.steps, *playbook.rollback]
        if step.action == "playbook"
        and isinstance(step.with_.get("name"), str)
        and not has_template(step.with_["name"])
    ]


def _check_templates(
    located: LocatedYaml, value: Any, loc: tuple[str | int, ...]
) -> list[PlaybookFileError]:
    problems: list[PlaybookFileError] = []
    if isinstance(value, dict):
        for key, item in value.items():
            problems += _check_templates(located, item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems += _check_templates(located, item, (*loc, index))
    elif isinstance(value, str) and (has_template(value) or loc[-1:] == ("when",)):
        # A bare `when: x > 1` is an expression too: check it as one.
        source = value if has_template(value) else "{{ " + value + " }}"
        try:
            _SYNTAX.parse(source)
        except TemplateSyntaxError as exc:
            problems.append(
                PlaybookFileError(
                    located.path,
                    located.line_of(loc),
                    dotted_field(loc),
                    f"template error: {exc.message}",
                )
            )
    return problems


def _check_params(located: LocatedYaml, playbook: Playbook) -> list[PlaybookFileError]:
    problems = []
    for name, spec in playbook.params.items():
        if spec.default is not None:
            try:
                coerce_param(spec, spec.default)
            except ValueError as exc:
                loc = ("params", name, "default")
                problems.append(
                    PlaybookFileError(
                        located.path, located.line_of(loc), f"params.{name}.default", str(exc)
                    )
                )
        if spec.required and spec.default is not None:
            loc = ("params", name, "required")
            problems.append(
                PlaybookFileError(
                    located.path,
                    located.line_of(loc),
                    f"params.{name}",
                    "a required parameter cannot have a default",
                )
            )
    return problems


def _check_steps(
    located: LocatedYaml, playbook: Playbook, registry: ActionRegistry
) -> list[PlaybookFileError]:
    problems: list[PlaybookFileError] = []
    for section, steps in (("steps", playbook.steps), ("rollback", playbook.rollback)):
        for index, step in enumerate(steps):
            problems += _check_step(located, (section, index), step, registry)
    return problems


def _check_step(
    located: LocatedYaml, loc: tuple[str | int, ...], step: Step, registry: ActionRegistry
) -> list[PlaybookFileError]:
    field = f"{loc[0]}[{loc[1]}]"
    action = registry.get(step.action)
    if action is None:
        known = ", ".join(sorted(registry))
        return [
            PlaybookFileError(
                located.path,
                located.line_of((*loc, "action")),
                f"{field}.action",
                f"unknown action `{step.action}` (known: {known})",
            )
        ]
    # Templated values are only known at run time: check the literal ones now.
    literal = {
        key: value
        for key, value in step.with_.items()
        if key not in action.lazy_args and not _contains_template(value)
    }
    try:
        action.parse(literal)
    except ValidationError as exc:
        templated = {k for k in step.with_ if k not in literal}
        problems = [
            p
            for p in validation_problems(located, exc, prefix=(*loc, "with"))
            if not (p.field and _missing_but_templated(p.field, templated))
        ]
        return problems
    return []


def _missing_but_templated(field: str, templated: set[str]) -> bool:
    return field.rsplit(".", 1)[-1] in templated


def _contains_template(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_contains_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_template(v) for v in value)
    return has_template(value)
