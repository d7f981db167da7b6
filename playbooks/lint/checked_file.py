"""The playbook file under check: its raw data, where things are in it, and what was found.

Checks read the raw YAML data rather than the validated model, so that one broken part of a
file hides no other.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from playbooks.errors import PlaybookFileError
from playbooks.yamlsource import Loc, LocatedYaml, dotted_field

__all__ = ["CheckedFile", "by_line"]


class CheckedFile:
    """One file's raw data, and the errors and warnings the checks found in it so far."""

    def __init__(self, located: LocatedYaml) -> None:
        self.located = located
        self.data: dict[str, Any] = located.data
        self.errors: list[PlaybookFileError] = []
        self.warnings: list[PlaybookFileError] = []

    def error(self, loc: Loc, problem: str) -> None:
        """Record an error at ``loc``: the file cannot be used as it is."""
        self.errors.append(self.problem(loc, problem))

    def warn(self, loc: Loc, problem: str) -> None:
        """Record a warning at ``loc``: the file loads, but a step of it will fail."""
        self.warnings.append(self.problem(loc, problem))

    def problem(self, loc: Loc, problem: str) -> PlaybookFileError:
        """``problem`` named by the file, line and field of ``loc``."""
        return PlaybookFileError(
            self.located.path, self.located.line_of(loc), dotted_field(loc) or None, problem
        )

    def sections(self) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """Every step and rollback step that is a mapping, as (section, index, step)."""
        for section in ("steps", "rollback"):
            steps = self.data.get(section)
            for index, step in enumerate(steps if isinstance(steps, list) else []):
                if isinstance(step, dict):
                    yield section, index, step

    def declared_params(self) -> tuple[str, ...]:
        """The names of the params the file declares."""
        params = self.data.get("params")
        return tuple(str(k) for k in params) if isinstance(params, dict) else ()

    def step_ids(self, section: str) -> list[str]:
        """The ids of the steps in ``section`` (``steps`` or ``rollback``), in order."""
        return [
            step["id"]
            for name, _, step in self.sections()
            if name == section and isinstance(step.get("id"), str)
        ]


def by_line(problems: list[PlaybookFileError]) -> list[PlaybookFileError]:
    """``problems`` sorted by line (those without one first), keeping their order within one."""
    return sorted(problems, key=lambda p: p.line or 0)
