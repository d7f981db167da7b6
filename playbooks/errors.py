"""The error tree shared by every layer.

Every error a user can cause carries a ``reason`` that chat surfaces show as-is.

    ChatOpsError                      root; ``reason`` is safe to show a user
    ├── PlaybookError                 a playbook file or catalog problem
    │   ├── PlaybookFileError         YAML or schema error, with file, line and field
    │   ├── PlaybookProblems          several of those at once, one per line
    │   └── UnknownPlaybookError      no playbook of that name (with suggestions)
    ├── ParamError                    a parameter value a user typed is wrong
    ├── TemplateError                 a template failed to render or is unsafe
    └── ActionError                   a step's action failed (target down, bad status …)
        ├── ActionTimeoutError        the step ran past its timeout
        └── MisconfiguredError        it cannot work as configured: not worth a retry
"""

from __future__ import annotations

__all__ = [
    "ActionError",
    "ActionTimeoutError",
    "ChatOpsError",
    "MisconfiguredError",
    "ParamError",
    "PlaybookError",
    "PlaybookFileError",
    "PlaybookProblems",
    "TemplateError",
    "UnknownPlaybookError",
]


class ChatOpsError(Exception):
    """Root of every error the project raises on purpose."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PlaybookError(ChatOpsError):
    """A playbook or the catalog is wrong."""


class PlaybookFileError(PlaybookError):
    """A playbook file failed to parse or validate; ``reason`` names file, line and field."""

    def __init__(self, path: str, line: int | None, field: str | None, problem: str) -> None:
        where = path if line is None else f"{path}:{line}"
        what = f"{field}: {problem}" if field else problem
        super().__init__(f"{where}: {what}")
        self.path = path
        self.line = line
        self.field = field
        self.problem = problem


class PlaybookProblems(PlaybookError):
    """Several playbook files are wrong; ``reason`` lists each problem on a line of its own,
    so a fix for the first is not followed by a restart that only reveals the second."""

    def __init__(self, problems: list[PlaybookFileError]) -> None:
        super().__init__("\n".join(problem.reason for problem in problems))
        self.problems = list(problems)


class UnknownPlaybookError(PlaybookError):
    """No playbook of that name; ``suggestions`` holds the closest names."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        hint = f" Did you mean {', '.join(f'`{s}`' for s in suggestions)}?" if suggestions else ""
        super().__init__(f"Unknown playbook `{name}`.{hint} Try `/playbook list`.")
        self.name = name
        self.suggestions = suggestions


class ParamError(ChatOpsError):
    """One or more parameter values are missing or invalid."""


class TemplateError(ChatOpsError):
    """A template could not be rendered."""


class ActionError(ChatOpsError):
    """A step's action failed; ``reason`` says why in a line."""


class ActionTimeoutError(ActionError):
    """A step ran past its timeout."""


class MisconfiguredError(ActionError):
    """The action cannot work as configured (a setting unset, an unknown connection or
    action, a URL with no scheme or host, a query the target rejects as malformed): trying
    again will not help, so the engine does not retry it and a poll fails at once instead of
    at its timeout."""
