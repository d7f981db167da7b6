"""The catalog: every playbook by name, loaded from the built-in folder and extra folders."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from playbooks.actions.registry import ActionRegistry
from playbooks.errors import PlaybookFileError, PlaybookProblems, UnknownPlaybookError
from playbooks.lint import ConfigNames, lint_catalog, lint_playbook
from playbooks.model import Playbook

__all__ = ["BUILTIN_DIR", "Catalog", "CatalogLoad"]

BUILTIN_DIR = Path(__file__).parent / "builtin"
log = structlog.get_logger(__name__)


@dataclass
class CatalogLoad:
    """What loading found: the valid playbooks, and every problem and warning.

    Problems and warnings are grouped by file, in the order the files were read, and
    sorted by line within a file.
    """

    playbooks: dict[str, Playbook] = field(default_factory=dict)
    problems: list[PlaybookFileError] = field(default_factory=list)
    warnings: list[PlaybookFileError] = field(default_factory=list)


class Catalog:
    """Playbooks by name. Build one with :meth:`load`."""

    def __init__(self, playbooks: Iterable[Playbook]) -> None:
        self._by_name = {p.name: p for p in playbooks}

    @staticmethod
    def scan(
        dirs: Sequence[Path],
        registry: ActionRegistry,
        *,
        include_builtin: bool = True,
        names: ConfigNames | None = None,
        lint_builtin_templates: bool = True,
    ) -> CatalogLoad:
        """Parse and lint every ``*.yaml``/``*.yml`` under the folders; never raises on a file.

        With ``names`` (what the config defines), the roles and channels playbooks name
        are checked, and connections and notify channels the config lacks are warnings.
        Without ``lint_builtin_templates``, the built-in playbooks' templates are not
        compiled and checked again (they ship checked); every other folder's are.
        """
        result = CatalogLoad()
        order: dict[str, int] = {}
        replaced: set[str] = set()
        linted: dict[str, Playbook] = {}
        folders = [BUILTIN_DIR, *dirs] if include_builtin else list(dirs)
        for folder in folders:
            order.setdefault(str(folder), len(order))
            if not folder.is_dir():
                result.problems.append(
                    PlaybookFileError(str(folder), None, None, "playbook folder does not exist")
                )
                continue
            for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
                order.setdefault(str(path), len(order))
                try:
                    found = lint_playbook(
                        path,
                        registry,
                        names=names,
                        templates=lint_builtin_templates or folder != BUILTIN_DIR,
                    )
                except PlaybookFileError as exc:
                    result.problems.append(exc)
                    continue
                result.problems.extend(found.errors)
                result.warnings.extend(found.warnings)
                playbook = found.playbook
                if playbook is None:
                    continue
                # Cross-file checks see every playbook whose schema holds, so that a file's
                # sub-playbook problems show up together with its other ones.
                linted[playbook.name] = playbook
                if found.errors:
                    continue
                if playbook.name in result.playbooks:
                    previous = result.playbooks[playbook.name].source
                    log.info(
                        "playbook_overridden", name=playbook.name, previous=previous, by=str(path)
                    )
                    replaced.add(previous)
                result.playbooks[playbook.name] = playbook
        result.problems.extend(lint_catalog(linted))
        result.problems = _by_file(result.problems, order)
        # A playbook another folder replaces is not in the catalog: its warnings do not apply.
        result.warnings = _by_file([w for w in result.warnings if w.path not in replaced], order)
        return result

    @classmethod
    def load(
        cls, dirs: Sequence[Path], registry: ActionRegistry, *, include_builtin: bool = True
    ) -> Catalog:
        """The catalog; raises PlaybookFileError for its one problem, PlaybookProblems for
        several (every one of them, as ``chatops check`` lists them)."""
        # Start-up: the built-in playbooks ship checked (chatops check and the tests hold
        # them to every check); compiling their templates again would cost every process
        # a large share of its start.
        found = cls.scan(
            dirs, registry, include_builtin=include_builtin, lint_builtin_templates=False
        )
        if len(found.problems) == 1:
            raise found.problems[0]
        if found.problems:
            raise PlaybookProblems(found.problems)
        return cls(found.playbooks.values())

    @property
    def by_name(self) -> Mapping[str, Playbook]:
        """Every playbook by its name (what plans and lint look sub-playbooks up in)."""
        return self._by_name

    def find(self, name: str) -> Playbook | None:
        """The playbook named ``name``, or None (a run of one since removed)."""
        return self._by_name.get(name)

    def get(self, name: str) -> Playbook:
        """The playbook named ``name``; UnknownPlaybookError suggesting close names."""
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownPlaybookError(name, self.suggest(name)) from None

    def suggest(self, name: str) -> list[str]:
        """Up to three known names closest to ``name``."""
        close = difflib.get_close_matches(name, self._by_name, n=3, cutoff=0.5)
        prefixed = [n for n in self._by_name if n.startswith(name) and n not in close]
        return (close + prefixed)[:3]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Playbook]:
        return iter(sorted(self._by_name.values(), key=lambda p: p.name))

    def __len__(self) -> int:
        return len(self._by_name)


def _by_file(problems: list[PlaybookFileError], order: dict[str, int]) -> list[PlaybookFileError]:
    """Grouped by file in reading order, then by line (sorting is stable: ties keep order)."""
    return sorted(problems, key=lambda p: (order.get(p.path, len(order)), p.line or 0))
