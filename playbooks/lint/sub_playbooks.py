"""Cross-file checks over a catalog: sub-playbook calls name a playbook that exists, give it
params it accepts, and never lead back to the caller."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from playbooks.errors import PlaybookFileError
from playbooks.lint.checked_file import by_line
from playbooks.model import Playbook
from playbooks.params import coerce_param
from playbooks.templating import contains_template, has_template
from playbooks.yamlsource import Loc, LocatedYaml, dotted_field, load_yaml

__all__ = ["lint_catalog"]


def lint_catalog(playbooks: Mapping[str, Playbook]) -> list[PlaybookFileError]:
    """Cross-file problems: sub-playbooks that do not exist or are given wrong params, and
    cycles between playbooks."""
    problems = []
    for playbook in playbooks.values():
        found: list[tuple[Loc, str]] = []
        cycle = _find_cycle(playbook.name, playbooks)
        for section, steps in (("steps", playbook.steps), ("rollback", playbook.rollback)):
            for index, step in enumerate(steps):
                target = step.with_.get("name") if step.action == "playbook" else None
                if not isinstance(target, str) or has_template(target):
                    continue
                loc: Loc = (section, index, "with", "name")
                if target not in playbooks:
                    found.append((loc, f"no playbook named `{target}`"))
                    continue
                if cycle and target == cycle[1]:
                    found.append((loc, f"playbooks call each other: {' → '.join(cycle)}"))
                    cycle = []  # once per playbook, at the first call that closes it
                given = step.with_.get("params", {})
                if isinstance(given, dict):
                    found += _sub_playbook_params(
                        (section, index, "with", "params"), playbooks[target], given
                    )
        if found:
            lines = _lines_of(playbook)
            problems += by_line(
                [
                    PlaybookFileError(
                        playbook.source, lines.line_of(loc), dotted_field(loc), problem
                    )
                    for loc, problem in found
                ]
            )
    return problems


def _sub_playbook_params(
    loc: Loc, target: Playbook, given: Mapping[str, Any]
) -> list[tuple[Loc, str]]:
    """What ``target`` would refuse in ``given`` (literal values only: templates vary)."""
    found: list[tuple[Loc, str]] = []
    declared = ", ".join(f"`{p}`" for p in target.params) or "none"
    for key, value in given.items():
        spec = target.params.get(str(key))
        if spec is None:
            found.append(
                (
                    (*loc, key),
                    f"`{key}` is not a parameter of {target.name} (parameters: {declared})",
                )
            )
        elif not contains_template(value):
            try:
                coerce_param(spec, value)
            except ValueError as exc:
                found.append(((*loc, key), str(exc)))
    for name, spec in target.params.items():
        if spec.required and spec.default is None and name not in given:
            found.append((loc, f"`{name}` is required by {target.name} and not given"))
    return found


def _lines_of(playbook: Playbook) -> LocatedYaml:
    """Where things are in ``playbook``'s file, to name lines; no lines if it cannot be read."""
    try:
        return load_yaml(Path(playbook.source))
    except PlaybookFileError:
        return LocatedYaml(playbook.source, None)


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
