"""Lint one playbook file: parse it, run every check on it, and sort what they found."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from playbooks.actions.registry import ActionRegistry
from playbooks.errors import PlaybookFileError
from playbooks.lint.actions import check_actions
from playbooks.lint.checked_file import CheckedFile, by_line
from playbooks.lint.config_names import ConfigNames, check_access
from playbooks.lint.estimates import check_estimate
from playbooks.lint.schema import check_params, check_schema
from playbooks.lint.templates import check_templates
from playbooks.model import Playbook
from playbooks.yamlsource import load_yaml

__all__ = ["PlaybookLint", "lint_playbook", "parse_playbook"]

_NOT_A_MAPPING = "a playbook file is a mapping"


@dataclass
class PlaybookLint:
    """One file's playbook (None when its schema is wrong), its errors and its warnings."""

    playbook: Playbook | None
    errors: list[PlaybookFileError] = field(default_factory=list)
    warnings: list[PlaybookFileError] = field(default_factory=list)


def parse_playbook(
    path: Path, registry: ActionRegistry, *, text: str | None = None
) -> tuple[Playbook | None, list[PlaybookFileError]]:
    """The playbook in ``path`` and its problems (bad YAML raises PlaybookFileError)."""
    found = lint_playbook(path, registry, text=text)
    return found.playbook, found.errors


def lint_playbook(
    path: Path,
    registry: ActionRegistry,
    *,
    names: ConfigNames | None = None,
    text: str | None = None,
    templates: bool = True,
) -> PlaybookLint:
    """Every problem of the file in ``path``, sorted by line (bad YAML raises PlaybookFileError).

    With ``names``, the roles, channels and connections it names are checked against them.
    Without ``templates``, its templates are not compiled and checked (the slowest check:
    start-up skips it for the built-in playbooks, which `chatops check` and the tests hold
    to it).
    """
    located = load_yaml(path, text=text)
    if not isinstance(located.data, dict):
        return PlaybookLint(None, [PlaybookFileError(str(path), 1, None, _NOT_A_MAPPING)])
    checked = CheckedFile(located)
    playbook = check_schema(checked)
    check_params(checked)
    if templates:
        check_templates(checked, registry)
    check_actions(checked, registry, names)
    if playbook is not None:
        check_estimate(checked, playbook)
    if names is not None:
        check_access(checked, names)
    return PlaybookLint(playbook, by_line(checked.errors), by_line(checked.warnings))
