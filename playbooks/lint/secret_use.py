"""Secret checks: a template places ``secrets.NAME`` whole and never transforms it.

A run refuses the same uses when it renders (:mod:`playbooks.sandbox`); this check finds them
in the template's syntax tree, so ``chatops check`` names each one before any run. A secret
may be output (``{{ secrets.NAME }}``, alone or amid text, or as a branch of ``x if c else
y``), given a name first (``{% set token = secrets.NAME %}``, ``{% with %}``) or output in a
macro or a ``{% set %}`` block; what holds it then is held to the same rule. Anything else is
a problem: a filter or test, an attribute or method, a subscript, an operator, a comparison, a
truth test, iteration, a function call, a list or mapping, a ``{% filter %}`` block, and any
use at all in a condition.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from jinja2 import nodes

from playbooks.sandbox import misuse_reason

__all__ = ["secret_problems"]

# `secrets.get(...)` and the like: mapping methods, not secrets.
_MAPPING_METHODS = frozenset({"get", "items", "keys", "values"})
_WHOLE_SECRETS = (
    "`secrets` is read only as `secrets.NAME`, one secret at a time, so that every use of a"
    " secret can be checked"
)
_AS_TEXT = "cannot be turned into text (with `~`, `%`, `join`, `string`…)"
_TRUTH = "cannot be tested for truth (with `if`, `and`, `or`, `not`)"


def secret_problems(tree: nodes.Template, *, condition: bool = False) -> list[str]:
    """Every use of a secret in ``tree`` other than placing it whole, once each.

    In a ``condition`` (``when``, ``until``, ``approval.required``) any use is a problem.
    """
    return _SecretUses(tree, condition).problems()


@dataclass(frozen=True)
class _Carrier:
    """A node whose value is a secret, or text holding one: ``secret`` names it."""

    node: nodes.Node
    secret: str


class _SecretUses:
    def __init__(self, tree: nodes.Template, condition: bool) -> None:
        self.tree = tree
        self.condition = condition
        self.parents: dict[int, nodes.Node] = {}
        for parent in tree.find_all(nodes.Node):
            for child in parent.iter_child_nodes():
                self.parents[id(child)] = parent
        for child in tree.iter_child_nodes():
            self.parents[id(child)] = tree
        # Names (set, with, macros) whose value holds a secret, and which secret.
        self.aliases: dict[str, str] = {}
        self.macros: dict[str, str] = {}

    def problems(self) -> list[str]:
        found: list[str] = []
        while True:
            # Names given to a secret may be given on: settle them before judging uses.
            known = (dict(self.aliases), dict(self.macros))
            found = [problem for carrier in self.carriers() for problem in self.judge(carrier)]
            if (self.aliases, self.macros) == known:
                break
        for name in self.tree.find_all(nodes.Name):
            if name.name == "secrets" and name.ctx == "load" and not self._names_one(name):
                found.append(_WHOLE_SECRETS)
        return list(dict.fromkeys(found))

    def carriers(self) -> Iterator[_Carrier]:
        for node in self.tree.find_all(nodes.Node):
            secret = self.secret_of(node)
            if secret is not None:
                yield _Carrier(node, secret)

    def secret_of(self, node: nodes.Node) -> str | None:
        """The secret ``node`` reads directly (``secrets.X``, an alias, a macro call)."""
        if isinstance(node, nodes.Getattr | nodes.Getitem) and _is_secrets(node.node):
            key = node.attr if isinstance(node, nodes.Getattr) else _const_key(node.arg)
            if key is not None and key not in _MAPPING_METHODS:
                return key
        if isinstance(node, nodes.Name) and node.ctx == "load":
            return self.aliases.get(node.name)
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name):
            return self.macros.get(node.node.name)
        return None

    def _names_one(self, name: nodes.Name) -> bool:
        parent = self.parents.get(id(name))
        return parent is not None and self.secret_of(parent) is not None

    def judge(self, carrier: _Carrier) -> list[str]:
        """The problems of one carrier, judged by what its value is given to."""
        node, parent = self._climb(carrier.node)
        how = self._misuse(node, parent, carrier.secret)
        return [] if how is None else [misuse_reason(carrier.secret, how)]

    def _climb(self, node: nodes.Node) -> tuple[nodes.Node, nodes.Node | None]:
        """Up through what only passes a value on (a branch of ``x if c else y``, a keyword
        argument) to the node that uses it."""
        parent = self.parents.get(id(node))
        while (isinstance(parent, nodes.CondExpr) and node is not parent.test) or isinstance(
            parent, nodes.Keyword
        ):
            node, parent = parent, self.parents.get(id(parent))
        return node, parent

    def _misuse(self, node: nodes.Node, parent: nodes.Node | None, secret: str) -> str | None:
        """How ``parent`` misuses ``node`` (which holds ``secret``); None when it places it."""
        if isinstance(parent, nodes.Output):
            if self.condition:
                return "cannot be read in a condition"
            return self._captured(parent, secret)
        if isinstance(parent, nodes.Assign | nodes.With):
            return self._named(node, parent, secret)
        if isinstance(parent, nodes.Filter):
            if node is parent.node:
                return f"cannot go through the `{parent.name}` filter"
            return f"cannot be an argument of the `{parent.name}` filter"
        if isinstance(parent, nodes.Test):
            if node is parent.node:
                return f"cannot be tested with `is {parent.name}`"
            return f"cannot be an argument of the `{parent.name}` test"
        if isinstance(parent, nodes.Getattr):
            return f"cannot be read as `.{parent.attr}`"
        if isinstance(parent, nodes.Getitem):
            return "cannot be indexed or sliced" if node is parent.node else "cannot be a key"
        if isinstance(parent, nodes.Call):
            return "cannot be called" if node is parent.node else "cannot be passed to a function"
        if isinstance(parent, nodes.And | nodes.Or | nodes.Not | nodes.If | nodes.CondExpr):
            return _TRUTH
        if isinstance(parent, nodes.Concat):
            return _AS_TEXT
        if isinstance(parent, nodes.BinExpr | nodes.UnaryExpr):
            return f"cannot be an operand of `{parent.operator}`"
        if isinstance(parent, nodes.Compare | nodes.Operand):
            return "cannot be compared"
        if isinstance(parent, nodes.For):
            return "cannot be iterated" if node is parent.iter else _TRUTH
        if isinstance(parent, nodes.List | nodes.Tuple | nodes.Dict | nodes.Pair):
            return "cannot be put in a list or mapping"
        return "cannot be used here"

    def _named(
        self, node: nodes.Node, parent: nodes.Assign | nodes.With, secret: str
    ) -> str | None:
        pairs = (
            [(parent.target, parent.node)]
            if isinstance(parent, nodes.Assign)
            else list(zip(parent.targets, parent.values, strict=False))
        )
        for target, value in pairs:
            if value is node:
                if not isinstance(target, nodes.Name):
                    return "can only be given a plain name"
                self.aliases[target.name] = secret
        return None

    def _captured(self, output: nodes.Output, secret: str) -> str | None:
        """What becomes of output written inside a block that captures it as text."""
        ancestor = self.parents.get(id(output))
        while ancestor is not None:
            if isinstance(ancestor, nodes.FilterBlock):
                return f"cannot go through the `{_first_filter(ancestor.filter)}` filter"
            if isinstance(ancestor, nodes.AssignBlock):
                if ancestor.filter is not None:
                    return f"cannot go through the `{_first_filter(ancestor.filter)}` filter"
                if not isinstance(ancestor.target, nodes.Name):
                    return "can only be given a plain name"
                self.aliases[ancestor.target.name] = secret
                return None
            if isinstance(ancestor, nodes.Macro):
                self.macros[ancestor.name] = secret
                return None
            if isinstance(ancestor, nodes.CallBlock | nodes.Block):
                kind = "call" if isinstance(ancestor, nodes.CallBlock) else "block"
                return f"cannot be output inside a `{{% {kind} %}}`"
            ancestor = self.parents.get(id(ancestor))
        return None


def _is_secrets(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Name) and node.name == "secrets" and node.ctx == "load"


def _const_key(arg: nodes.Node) -> str | None:
    return arg.value if isinstance(arg, nodes.Const) and isinstance(arg.value, str) else None


def _first_filter(chain: nodes.Filter) -> str:
    """The filter of a chain (``upper|trim``) applied first."""
    while isinstance(chain.node, nodes.Filter):
        chain = chain.node
    return chain.name
