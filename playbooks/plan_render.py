"""A step's arguments rendered as far as a dry run can know them. Pure.

What a plan shows a person is never a raw template:

- params and environment variables are filled in; every unset variable or secret an
  argument reads is noted (all of them, not only the first), and a stand-in takes its place;
- a branch on an earlier step's result (``{% if steps.monitor.ok %}…{% else %}…{% endif %}``)
  is rendered each way, and each way says what it assumes (``steps.monitor.ok`` true);
- an argument that computes with an earlier step's result (``{{ steps.now.value * 100 }}``)
  cannot be worked out before that step has run: it is said in words instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import TemplateSyntaxError, nodes

from playbooks.conditions import names_read
from playbooks.errors import TemplateError
from playbooks.sandbox import Secret
from playbooks.secrets import REDACTED, is_secret_name
from playbooks.templating import (
    DeferredValue,
    EnvView,
    SecretsView,
    UndecidedInDryRun,
    has_template,
    render_value,
    template_sandbox,
)

__all__ = ["MADE_WHEN_IT_RUNS", "Branch", "Rendered", "reads_run_results", "render_for_plan"]

MADE_WHEN_IT_RUNS = "<made when the step runs"
"""How the stand-in for an argument only the run can work out begins."""

MAX_CONDITIONS = 3
"""Results of earlier steps one step's arguments may branch on before the plan stops
naming every branch (2³ = 8 of them) and says in words that the run decides."""


@dataclass(frozen=True)
class Branch:
    """The arguments as rendered when the earlier results they branch on are ``assumed``:
    ``(("steps.monitor.ok", True),)``; nothing assumed when they do not branch."""

    assumed: tuple[tuple[str, bool], ...]
    value: Any


@dataclass(frozen=True)
class Rendered:
    """Every branch of the arguments, and what they read that is not set."""

    branches: list[Branch]
    unset: list[str] = field(default_factory=list)
    """``environment variable X is not set`` / ``secret X is not set in the environment``."""


def render_for_plan(
    value: Mapping[str, Any], params: Mapping[str, Any], environ: Mapping[str, str]
) -> Rendered:
    """``value`` (a step's arguments) rendered for a dry run.

    Raises TemplateError for a problem the run would meet too (a secret transformed, a
    variable holding a secret read through ``env``, a filter given the wrong type).
    """
    unset: list[str] = []
    try:
        branches = _branches(value, params, environ, unset)
    except _Undecided:
        branches = None
    except TemplateError:
        if not reads_run_results(value):
            raise
        branches = None
    if branches is None:
        # Some arguments compute with (or branch too often on) earlier results: each of
        # those is said in words, and the rest is rendered again.
        value = {
            key: _in_words(item) if _decided_by_the_run(item, params, environ) else item
            for key, item in value.items()
        }
        branches = _branches(value, params, environ, unset)
    return Rendered(branches, list(dict.fromkeys(unset)))


def reads_run_results(value: Any) -> bool:
    """Whether a template in ``value`` reads what only a run knows (``steps``, ``run``)."""
    if isinstance(value, dict):
        return any(reads_run_results(item) for item in value.values())
    if isinstance(value, list):
        return any(reads_run_results(item) for item in value)
    if not has_template(value):
        return False
    names = names_read(value)
    return names is not None and bool(names & {"steps", "run"})


def _decided_by_the_run(value: Any, params: Mapping[str, Any], environ: Mapping[str, str]) -> bool:
    if not reads_run_results(value):
        return False
    try:
        _branches(value, params, environ, [])
    except (_Undecided, TemplateError):
        return True
    return False


def _branches(
    value: Any, params: Mapping[str, Any], environ: Mapping[str, str], unset: list[str]
) -> list[Branch]:
    """Render ``value`` once per combination of the earlier results it branches on.

    Depth first, "true" before "false": the last branch is then the one where every
    condition met is false, which a reader calls "otherwise".
    """
    found: list[Branch] = []
    pending: list[tuple[bool, ...]] = [()]
    while pending:
        choices = _Choices(pending.pop())
        variables = {
            "params": dict(params),
            "steps": _Outcome("steps", choices),
            "run": _Outcome("run", choices),
            "env": _NotingEnv(environ, unset),
            "secrets": _NotingSecrets(environ, unset),
        }
        try:
            rendered = render_value(value, variables)
        except _NeedsChoice:
            if len(choices.given) >= MAX_CONDITIONS:
                raise _Undecided("too many branches") from None
            pending += [(*choices.given, False), (*choices.given, True)]
            continue
        found.append(Branch(tuple(zip(choices.met, choices.given, strict=True)), rendered))
    return found


class _Undecided(Exception):
    """The arguments branch on more earlier results than a plan names."""


class _NeedsChoice(UndecidedInDryRun):
    """A condition on an earlier result not assumed yet: render again, once each way."""


class _Choices:
    """The values assumed, in the order the render meets them, for conditions on results."""

    def __init__(self, given: tuple[bool, ...]) -> None:
        self.given = given
        self.met: list[str] = []

    def choose(self, path: str) -> bool:
        if path in self.met:
            return self.given[self.met.index(path)]
        if len(self.met) == len(self.given):
            raise _NeedsChoice(path)
        self.met.append(path)
        return self.given[len(self.met) - 1]


class _Outcome(DeferredValue):
    """A result only the run knows, whose truth is the one assumed for this render."""

    def __init__(self, path: str, choices: _Choices) -> None:
        super().__init__(path)
        self._choices = choices

    def __getattr__(self, name: str) -> _Outcome:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Outcome(f"{self._path}.{name}", self._choices)

    def __getitem__(self, key: object) -> _Outcome:
        return _Outcome(f"{self._path}[{key!r}]", self._choices)

    def __bool__(self) -> bool:
        return self._choices.choose(self._path)


class _NotingEnv(EnvView):
    """``env`` that notes an unset variable and renders a stand-in for it, so that one
    render finds every unset variable (a secret read through ``env`` is still refused)."""

    def __init__(self, environ: Mapping[str, str], unset: list[str]) -> None:
        super().__init__(environ)
        self._unset = unset

    def __getitem__(self, name: str) -> str:
        if is_secret_name(name) or name in self._environ:
            return super().__getitem__(name)
        self._unset.append(f"environment variable {name} is not set")
        return f"<env.{name}>"


class _NotingSecrets(SecretsView):
    """``secrets`` in a dry run: never read, and noted when unset."""

    def __init__(self, environ: Mapping[str, str], unset: list[str]) -> None:
        super().__init__(environ, reveal=False)
        self._unset = unset

    def __getitem__(self, name: str) -> Secret:
        if name not in self._environ:
            self._unset.append(f"secret {name} is not set in the environment")
        return Secret(name, REDACTED)


def _in_words(value: Any) -> str:
    """What stands for an argument only the run can work out."""
    steps = sorted(_steps_read(value))
    if not steps:
        return f"{MADE_WHEN_IT_RUNS}>"
    if len(steps) == 1:
        return f"{MADE_WHEN_IT_RUNS}, from the result of `{steps[0]}`>"
    named = ", ".join(f"`{s}`" for s in steps[:-1]) + f" and `{steps[-1]}`"
    return f"{MADE_WHEN_IT_RUNS}, from the results of {named}>"


def _steps_read(value: Any) -> set[str]:
    """The ids of the earlier steps ``value``'s templates read (``steps.ID``)."""
    if isinstance(value, dict):
        return set().union(*(_steps_read(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(_steps_read(item) for item in value))
    if not has_template(value):
        return set()
    try:
        tree = template_sandbox().parse(value)
    except TemplateSyntaxError:
        return set()
    found = {
        node.attr
        for node in tree.find_all(nodes.Getattr)
        if isinstance(node.node, nodes.Name) and node.node.name == "steps"
    }
    found |= {
        node.arg.value
        for node in tree.find_all(nodes.Getitem)
        if isinstance(node.node, nodes.Name)
        and node.node.name == "steps"
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    }
    return found
