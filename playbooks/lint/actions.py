"""Action checks: each step names a known action and gives it arguments it accepts.

Only the arguments known before a run are validated: literal ones, and lazy ones (which the
engine never renders up front). A poll's ``check`` is an action spec and is checked the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from playbooks.actions.base import Action
from playbooks.actions.registry import ActionRegistry
from playbooks.lint.checked_file import CheckedFile
from playbooks.lint.config_names import ConfigNames, check_config_references
from playbooks.templating import contains_template
from playbooks.yamlsource import Loc, validation_problems

__all__ = ["check_actions"]


def check_actions(
    checked: CheckedFile, registry: ActionRegistry, names: ConfigNames | None
) -> None:
    """Check every step's action and arguments; with ``names``, the config names they use."""
    actions = _ActionCheck(checked, registry, names)
    for section, index, step in checked.sections():
        name = step.get("action")
        args = step.get("with", {})
        if not isinstance(name, str) or not isinstance(args, dict):
            continue  # the schema check said why
        actions.step((section, index), name, args)


class _ActionCheck:
    def __init__(
        self, checked: CheckedFile, registry: ActionRegistry, names: ConfigNames | None
    ) -> None:
        self.checked = checked
        self.registry = registry
        self.names = names

    def step(self, loc: Loc, name: str, args: Mapping[str, Any]) -> None:
        """Check a step: ``loc`` holds ``action: name`` and its ``with`` holds ``args``."""
        action = self.known_action(loc, name)
        if action is None:
            return
        self.arguments((*loc, "with"), action, args)
        check = args.get("check")
        if name == "poll" and isinstance(check, dict) and isinstance(check.get("action"), str):
            # `{action: prometheus, query: …}`: the poll runs it as it would a step.
            self.check_spec((*loc, "with", "check"), check)

    def check_spec(self, loc: Loc, spec: Mapping[str, Any]) -> None:
        """Check a poll's ``check``: ``action: name`` and its arguments, side by side."""
        action = self.known_action(loc, spec["action"])
        if action is not None:
            self.arguments(loc, action, {k: v for k, v in spec.items() if k != "action"})

    def known_action(self, loc: Loc, name: str) -> Action[Any] | None:
        """The action called ``name``; None, and an error at ``loc``, if there is none."""
        action = self.registry.get(name)
        if action is None:
            known = ", ".join(sorted(self.registry))
            self.checked.error((*loc, "action"), f"unknown action `{name}` (known: {known})")
        return action

    def arguments(self, loc: Loc, action: Action[Any], args: Mapping[str, Any]) -> None:
        """Validate the arguments known now: literal ones, and lazy ones (never rendered)."""
        known = {
            key: value
            for key, value in args.items()
            if key in action.lazy_args or not contains_template(value)
        }
        templated = set(args) - set(known)
        try:
            action.parse(known)
        except ValidationError as exc:
            # A templated argument is only known at run time: it is not missing.
            self.checked.errors += validation_problems(
                self.checked.located,
                exc,
                prefix=loc,
                skip=lambda where, _kind: bool(where) and where[0] in templated,
            )
        if self.names is not None:
            check_config_references(self.checked, self.names, loc, action.name, args)
