"""Template checks: compile every template the engine renders and resolve the names it reads.

Templates compile in the engine's own sandbox (:func:`playbooks.templating.template_sandbox`),
so an unknown filter or test is found here as a run would find it. A template may read only
the top-level names it will be given, ``params.X`` only for a declared param, and ``steps.X``
only for a step that has run by then. It may place a secret whole and do nothing else with it
(:mod:`~playbooks.lint.secret_use`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError, meta, nodes

from playbooks.actions.registry import ActionRegistry
from playbooks.lint.checked_file import CheckedFile
from playbooks.lint.secret_use import secret_problems
from playbooks.templating import has_template, template_sandbox
from playbooks.yamlsource import Loc

__all__ = ["check_templates"]

# What templates see (playbooks/templating.py, bot/engine/executor.py, playbooks/plan.py).
_STEP_NAMES = ("params", "steps", "env", "secrets", "run")
_ESTIMATE_NAMES = ("params", "env")
_APPROVAL_NAMES = ("params",)
_CHANGES_NAMES = ("params",)
# `params.get(...)` is the mapping's method, never a parameter (the model forbids such names).
_MAPPING_METHODS = frozenset(name for name in dir(dict) if not name.startswith("_"))


def check_templates(checked: CheckedFile, registry: ActionRegistry) -> None:
    """Compile every template the engine renders and resolve the names it reads."""
    _TemplateCheck(checked, registry).run()


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


class _TemplateCheck:
    """The template checks of one file; the registry tells which arguments an action renders."""

    def __init__(self, checked: CheckedFile, registry: ActionRegistry) -> None:
        self.checked = checked
        self.registry = registry
        self.sandbox = template_sandbox()

    def run(self) -> None:
        data = self.checked.data
        params = self.checked.declared_params()
        main, rollback = self.checked.step_ids("steps"), self.checked.step_ids("rollback")
        every = frozenset([*main, *rollback])
        for key in ("duration", "cost_usd"):
            estimate = data.get("estimate")
            if isinstance(estimate, dict) and isinstance(estimate.get(key), str):
                self.template(("estimate", key), estimate[key], _Scope(_ESTIMATE_NAMES, params))
        changes = data.get("changes")
        for index, line in enumerate(changes if isinstance(changes, list) else []):
            if isinstance(line, str):
                self.template(("changes", index), line, _Scope(_CHANGES_NAMES, params))
        approval = data.get("approval")
        if isinstance(approval, dict) and isinstance(approval.get("required"), str):
            scope = _Scope(_APPROVAL_NAMES, params)
            self.template(("approval", "required"), approval["required"], scope, expression=True)
        seen: dict[str, list[str]] = {"steps": [], "rollback": [*main]}
        for section, index, step in self.checked.sections():
            own = step.get("id") if isinstance(step.get("id"), str) else None
            scope = _Scope(_STEP_NAMES, params, tuple(seen[section]), own, every)
            if own is not None:
                seen[section].append(own)
            loc: Loc = (section, index)
            if isinstance(step.get("when"), str):
                self.template((*loc, "when"), step["when"], scope, expression=True)
            gate = step.get("approval")
            if isinstance(gate, dict) and isinstance(gate.get("required"), str):
                gate_loc = (*loc, "approval", "required")
                self.template(gate_loc, gate["required"], scope, expression=True)
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
                # The built-in poll evaluates `until` itself, with the check's `value` and
                # `result` added.
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

    def template(
        self, loc: Loc, text: str, scope: _Scope | None, *, expression: bool = False
    ) -> None:
        """Compile ``text`` (a bare string is an expression when ``expression``)."""
        if not has_template(text) and not expression:
            return
        source = text if has_template(text) else "{{ " + text + " }}"
        try:
            tree, undeclared = _analysed(source)
        except TemplateSyntaxError as exc:
            self.checked.error(loc, f"template error: {exc.message or exc}")
            return
        if scope is not None:
            for problem in self.name_problems(tree, undeclared, scope):
                self.checked.error(loc, problem)
        if scope is None or "secrets" in scope.names:
            for problem in secret_problems(tree, condition=expression):
                self.checked.error(loc, problem)

    def name_problems(
        self, tree: nodes.Template, undeclared: frozenset[str], scope: _Scope
    ) -> list[str]:
        """Names ``tree`` reads (``undeclared`` from the context) that will not be there when
        it renders, once each."""
        problems = [
            f"unknown name `{name}` (known here: {', '.join(scope.names)})"
            for name in sorted(undeclared)
            if name not in scope.names and name not in self.sandbox.globals
        ]
        assigned = {node.name for node in tree.find_all(nodes.Name) if node.ctx != "load"}
        for root, key in _lookups(tree):
            if root in assigned or root not in scope.names or key in _MAPPING_METHODS:
                continue
            if root == "params" and key not in scope.params:
                declared = ", ".join(f"`{p}`" for p in scope.params) or "none declared"
                problem = (
                    f"`params.{key}` is not a parameter of this playbook (parameters: {declared})"
                )
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


@functools.lru_cache(maxsize=4096)
def _analysed(source: str) -> tuple[nodes.Template, frozenset[str]]:
    """``source`` parsed in the shared sandbox, and the names it reads from its context.

    Kept per source text: the built-in catalog repeats a third of its templates (the same
    ``{{ env.ES_URL }}`` in every Elasticsearch step). The tree is only read afterwards.
    Unknown filters and tests are found by jinja's code generator, not by parse;
    find_undeclared_variables runs that generator (keeping only the names), so this one
    pass both checks the template as a run would compile it and reads its names; compiling
    the generated code would find nothing more.
    """
    tree = template_sandbox().parse(source)
    return tree, frozenset(meta.find_undeclared_variables(tree))
