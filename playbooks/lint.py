"""Parse one playbook file and check it deeply; every problem names file, line and field.

A file is checked as far as it can be even when its schema is wrong, so that one run of
``chatops check`` reports every problem: the schema (pydantic), params, templates (compiled
with the sandbox the engine renders them in, and their ``params.X`` / ``steps.X`` names
resolved), each step's action arguments (a poll's ``check`` too) and, when a config is given,
the roles, channels and connections it names. :func:`lint_catalog` adds what needs every
playbook at once: sub-playbooks, their params, and cycles.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from jinja2 import TemplateSyntaxError, meta, nodes
from pydantic import ValidationError

from playbooks.actions.base import Action
from playbooks.actions.registry import ActionRegistry
from playbooks.errors import PlaybookFileError
from playbooks.model import ParamSpec, Playbook
from playbooks.params import coerce_param
from playbooks.templating import _ENV as TEMPLATES  # the engine's own sandbox: same filters
from playbooks.templating import has_template
from playbooks.yamlsource import Loc, LocatedYaml, dotted_field, load_yaml, validation_problems

__all__ = ["ConfigNames", "PlaybookLint", "lint_catalog", "lint_playbook", "parse_playbook"]

# What templates see (playbooks/templating.py, bot/executor.py, playbooks/plan.py).
_STEP_NAMES = ("params", "steps", "env", "secrets", "run")
_ESTIMATE_NAMES = ("params", "env")
_APPROVAL_NAMES = ("params",)
# The built-in poll evaluates `until` itself, with the check's `value` and `result` added.
_POLL_UNTIL_NAMES = (*_STEP_NAMES, "value", "result")
# `params.get(...)` is the mapping's method, never a parameter (the model forbids such names).
_MAPPING_METHODS = frozenset(name for name in dir(dict) if not name.startswith("_"))


@dataclass(frozen=True)
class ConfigNames:
    """What the config defines that playbooks refer to by name.

    Roles and channels are checked only when the config defines some (the built-in defaults
    define none, and then a playbook's ``channels`` match channel names as typed). A ``sql``
    connection or a ``notify`` channel the config lacks is a warning: only that step fails.
    """

    source: str
    roles: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    connections: frozenset[str] = frozenset()


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
) -> PlaybookLint:
    """Every problem of the file in ``path``, sorted by line (bad YAML raises PlaybookFileError).

    With ``names``, the roles, channels and connections it names are checked against them.
    """
    located = load_yaml(path, text=text)
    if not isinstance(located.data, dict):
        return PlaybookLint(None, [PlaybookFileError(str(path), 1, None, _NOT_A_MAPPING)])
    check = _FileCheck(located, registry, names)
    playbook = check.schema()
    check.params()
    check.templates()
    check.steps()
    if names is not None:
        check.access(names)
    return PlaybookLint(playbook, _by_line(check.errors), _by_line(check.warnings))


_NOT_A_MAPPING = "a playbook file is a mapping"


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
            problems += _by_line(
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
        elif not _contains_template(value):
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


def _by_line(problems: list[PlaybookFileError]) -> list[PlaybookFileError]:
    return sorted(problems, key=lambda p: p.line or 0)


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


@dataclass(frozen=True)
class _Scope:
    """What a template may name: top-level variables, declared params and readable steps."""

    names: tuple[str, ...]
    params: tuple[str, ...]
    steps: Sequence[str] = ()
    own_step: str | None = None
    all_steps: frozenset[str] = frozenset()

    def adding(self, *names: str) -> _Scope:
        return _Scope((*self.names, *names), self.params, self.steps, self.own_step, self.all_steps)


class _FileCheck:
    """The checks of one file, on its raw data so that one broken part hides no other."""

    def __init__(
        self, located: LocatedYaml, registry: ActionRegistry, names: ConfigNames | None
    ) -> None:
        self.located = located
        self.data: dict[str, Any] = located.data
        self.registry = registry
        self.names = names
        self.errors: list[PlaybookFileError] = []
        self.warnings: list[PlaybookFileError] = []

    def error(self, loc: Loc, problem: str) -> None:
        self.errors.append(self._problem(loc, problem))

    def warn(self, loc: Loc, problem: str) -> None:
        self.warnings.append(self._problem(loc, problem))

    def _problem(self, loc: Loc, problem: str) -> PlaybookFileError:
        return PlaybookFileError(
            self.located.path, self.located.line_of(loc), dotted_field(loc) or None, problem
        )

    # -- the pieces of the file -----------------------------------------------------------

    def sections(self) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """Every step and rollback step that is a mapping, as (section, index, step)."""
        for section in ("steps", "rollback"):
            steps = self.data.get(section)
            for index, step in enumerate(steps if isinstance(steps, list) else []):
                if isinstance(step, dict):
                    yield section, index, step

    def declared_params(self) -> tuple[str, ...]:
        params = self.data.get("params")
        return tuple(str(k) for k in params) if isinstance(params, dict) else ()

    def step_ids(self, section: str) -> list[str]:
        return [
            step["id"]
            for name, _, step in self.sections()
            if name == section and isinstance(step.get("id"), str)
        ]

    # -- checks ---------------------------------------------------------------------------

    def schema(self) -> Playbook | None:
        """The playbook if its schema holds; every schema error (and duplicate id) if not."""
        duplicates = self._duplicate_step_ids()
        try:
            playbook = Playbook.model_validate({**self.data, "source": self.located.path})
        except ValidationError as exc:
            problems = validation_problems(self.located, exc)
            if duplicates:
                # The model's own duplicate-id error has no line: report ours, which has one.
                problems = [p for p in problems if p.field is not None]
            self.errors += [*problems, *duplicates]
            return None
        self.errors += duplicates
        return playbook

    def _duplicate_step_ids(self) -> list[PlaybookFileError]:
        """Every step (or rollback step) whose id an earlier one already uses."""
        problems = []
        first_line: dict[str, int | None] = {}
        for section, index, step in self.sections():
            step_id = step.get("id")
            if not isinstance(step_id, str):
                continue
            loc = (section, index, "id")
            if step_id in first_line:
                problems.append(
                    self._problem(
                        loc,
                        f"step id `{step_id}` is used twice (first on line {first_line[step_id]})",
                    )
                )
            else:
                first_line[step_id] = self.located.line_of(loc)
        return problems

    def params(self) -> None:
        params = self.data.get("params")
        for name, raw in (params if isinstance(params, dict) else {}).items():
            try:
                spec = ParamSpec.model_validate(raw)
            except ValidationError:
                continue  # the schema check said why
            if spec.default is not None:
                try:
                    coerce_param(spec, spec.default)
                except ValueError as exc:
                    self.error(("params", name, "default"), str(exc))
            if spec.required and spec.default is not None:
                self.errors.append(
                    PlaybookFileError(
                        self.located.path,
                        self.located.line_of(("params", name, "required")),
                        f"params.{name}",
                        "a required parameter cannot have a default",
                    )
                )
            if spec.min is not None and spec.max is not None and spec.min > spec.max:
                self.error(
                    ("params", name, "min"),
                    f"`min` ({_number(spec.min)}) is greater than `max` ({_number(spec.max)}):"
                    " no value can pass",
                )

    def templates(self) -> None:
        """Compile every template the engine renders and resolve the names it reads."""
        params = self.declared_params()
        main, rollback = self.step_ids("steps"), self.step_ids("rollback")
        every = frozenset([*main, *rollback])
        for key in ("duration", "cost_usd"):
            estimate = self.data.get("estimate")
            if isinstance(estimate, dict) and isinstance(estimate.get(key), str):
                self.template(("estimate", key), estimate[key], _Scope(_ESTIMATE_NAMES, params))
        approval = self.data.get("approval")
        if isinstance(approval, dict) and isinstance(approval.get("required"), str):
            scope = _Scope(_APPROVAL_NAMES, params)
            self.template(("approval", "required"), approval["required"], scope, expression=True)
        seen: dict[str, list[str]] = {"steps": [], "rollback": [*main]}
        for section, index, step in self.sections():
            own = step.get("id") if isinstance(step.get("id"), str) else None
            scope = _Scope(_STEP_NAMES, params, tuple(seen[section]), own, every)
            if own is not None:
                seen[section].append(own)
            loc: Loc = (section, index)
            if isinstance(step.get("when"), str):
                self.template((*loc, "when"), step["when"], scope, expression=True)
            gate = step.get("approval")
            if isinstance(gate, dict) and isinstance(gate.get("required"), str):
                self.template((*loc, "approval", "required"), gate["required"], scope, True)
            if isinstance(step.get("with"), dict):
                self.action_templates((*loc, "with"), step.get("action"), step["with"], scope)

    def action_templates(
        self, loc: Loc, action_name: Any, args: Mapping[str, Any], scope: _Scope
    ) -> None:
        action = self.registry.get(action_name) if isinstance(action_name, str) else None
        lazy = action.lazy_args if action is not None else frozenset()
        for key, value in args.items():
            child = (*loc, key)
            if key not in lazy:
                self.walk(child, value, scope)
            elif action_name == "poll" and key == "check" and isinstance(value, dict):
                # The check is an action spec whose arguments render like a step's.
                rest = {k: v for k, v in value.items() if k != "action"}
                self.action_templates(child, value.get("action"), rest, scope)
            elif action_name == "poll" and key == "until" and isinstance(value, str):
                self.template(child, value, scope.adding("value", "result"), expression=True)
            else:
                # A plug-in's own lazy argument: compile it; its names are the plug-in's.
                self.walk(child, value, None)

    def walk(self, loc: Loc, value: Any, scope: _Scope | None) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                self.walk((*loc, key), item, scope)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.walk((*loc, index), item, scope)
        elif isinstance(value, str) and has_template(value):
            self.template(loc, value, scope)

    def template(self, loc: Loc, text: str, scope: _Scope | None, expression: bool = False) -> None:
        """Compile ``text`` (a bare string is an expression when ``expression``)."""
        if not has_template(text) and not expression:
            return
        source = text if has_template(text) else "{{ " + text + " }}"
        try:
            tree = TEMPLATES.parse(source)
            TEMPLATES.compile(tree)  # unknown filters and tests are found here, not in parse
        except TemplateSyntaxError as exc:
            self.error(loc, f"template error: {exc.message or exc}")
            return
        if scope is not None:
            for problem in _name_problems(tree, scope):
                self.error(loc, problem)

    def steps(self) -> None:
        for section, index, step in self.sections():
            name = step.get("action")
            args = step.get("with", {})
            if not isinstance(name, str) or not isinstance(args, dict):
                continue  # the schema check said why
            self.action((section, index), name, args)

    def action(self, loc: Loc, name: str, args: Mapping[str, Any]) -> None:
        """Check an action spec: ``loc`` holds ``action: name`` and its ``with`` holds args."""
        action = self.registry.get(name)
        if action is None:
            known = ", ".join(sorted(self.registry))
            self.error((*loc, "action"), f"unknown action `{name}` (known: {known})")
            return
        self.arguments((*loc, "with"), action, args)
        check = args.get("check")
        if name == "poll" and isinstance(check, dict) and isinstance(check.get("action"), str):
            # `{action: prometheus, query: …}`: the poll runs it as it would a step.
            self.check_spec((*loc, "with", "check"), check)

    def check_spec(self, loc: Loc, spec: Mapping[str, Any]) -> None:
        name = spec["action"]
        action = self.registry.get(name)
        if action is None:
            known = ", ".join(sorted(self.registry))
            self.error((*loc, "action"), f"unknown action `{name}` (known: {known})")
            return
        self.arguments(loc, action, {k: v for k, v in spec.items() if k != "action"})

    def arguments(self, loc: Loc, action: Action[Any], args: Mapping[str, Any]) -> None:
        """Validate the arguments known now: literal ones, and lazy ones (never rendered)."""
        known = {
            key: value
            for key, value in args.items()
            if key in action.lazy_args or not _contains_template(value)
        }
        templated = set(args) - set(known)
        try:
            action.parse(known)
        except ValidationError as exc:
            # A templated argument is only known at run time: it is not missing.
            self.errors += validation_problems(
                self.located,
                exc,
                prefix=loc,
                skip=lambda where, _kind: bool(where) and where[0] in templated,
            )
        if self.names is not None:
            self.config_references(loc, action.name, args)

    def config_references(self, loc: Loc, action: str, args: Mapping[str, Any]) -> None:
        """Warn about a connection or channel the config lacks: that step would fail.

        A templated name is only known at run time, and is not checked.
        """
        assert self.names is not None
        if action == "sql":
            connection = args.get("connection", "default")
            if _literal(connection) and connection not in self.names.connections:
                self.warn(
                    (*loc, "connection"),
                    _undefined(self.names, "connection", connection, self.names.connections),
                )
        elif action == "notify":
            channel = args.get("channel")
            if _literal(channel) and channel not in self.names.channels:
                self.warn(
                    (*loc, "channel"),
                    _undefined(self.names, "channel", channel, self.names.channels),
                )

    def access(self, names: ConfigNames) -> None:
        """Roles and channels the playbook names must be the config's (when it has some)."""
        if names.roles:
            self.names_in(("allowed",), self.data.get("allowed"), "role", names.roles)
            gates: list[tuple[Loc, Any]] = [(("approval",), self.data.get("approval"))]
            gates += [((s, i, "approval"), step.get("approval")) for s, i, step in self.sections()]
            for loc, gate in gates:
                if isinstance(gate, dict):
                    approvers = gate.get("approvers")
                    self.names_in((*loc, "approvers"), approvers, "role", names.roles)
        if names.channels:
            self.names_in(("channels",), self.data.get("channels"), "channel", names.channels)

    def names_in(self, loc: Loc, listed: Any, kind: str, known: frozenset[str]) -> None:
        assert self.names is not None
        for index, name in enumerate(listed if isinstance(listed, list) else []):
            if isinstance(name, str) and name not in known:
                self.error(
                    (*loc, index),
                    f"no {kind} `{name}` in the config ({self.names.source};"
                    f" {kind}s: {', '.join(sorted(known))})",
                )


def _undefined(names: ConfigNames, kind: str, name: str, known: frozenset[str]) -> str:
    defined = f"it defines {', '.join(sorted(known))}" if known else f"it defines no {kind}s"
    return (
        f"no {kind} `{name}` in the config ({names.source}; {defined}):"
        " this step will fail until one is added"
    )


def _name_problems(tree: nodes.Template, scope: _Scope) -> list[str]:
    """Names ``tree`` reads that will not be there when it renders, once each."""
    problems = [
        f"unknown name `{name}` (known here: {', '.join(scope.names)})"
        for name in sorted(meta.find_undeclared_variables(tree))
        if name not in scope.names and name not in TEMPLATES.globals
    ]
    assigned = {node.name for node in tree.find_all(nodes.Name) if node.ctx != "load"}
    for root, key in _lookups(tree):
        if root in assigned or root not in scope.names or key in _MAPPING_METHODS:
            continue
        if root == "params" and key not in scope.params:
            declared = ", ".join(f"`{p}`" for p in scope.params) or "none declared"
            problem = f"`params.{key}` is not a parameter of this playbook (parameters: {declared})"
        elif root == "steps" and key not in scope.steps:
            problem = _step_problem(key, scope)
        else:
            continue
        if problem not in problems:
            problems.append(problem)
    return problems


def _step_problem(key: str, scope: _Scope) -> str:
    if key == scope.own_step:
        return f"`steps.{key}` is this step: a step reads only the steps before it"
    if key in scope.all_steps:
        return f"`steps.{key}` has not run yet here: a step reads only the steps before it"
    earlier = ", ".join(scope.steps) or "none"
    return f"`steps.{key}`: no step has the id `{key}` (steps before this one: {earlier})"


def _lookups(tree: nodes.Template) -> Iterator[tuple[str, str]]:
    """Every ``name.key`` and ``name['key']`` in ``tree``, as (name, key)."""
    for attr in tree.find_all(nodes.Getattr):
        if isinstance(attr.node, nodes.Name) and attr.node.ctx == "load":
            yield attr.node.name, attr.attr
    for item in tree.find_all(nodes.Getitem):
        if (
            isinstance(item.node, nodes.Name)
            and item.node.ctx == "load"
            and isinstance(item.arg, nodes.Const)
            and isinstance(item.arg.value, str)
        ):
            yield item.node.name, item.arg.value


def _literal(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and not has_template(value)


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


def _contains_template(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_contains_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_template(v) for v in value)
    return has_template(value)
