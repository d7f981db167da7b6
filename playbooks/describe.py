"""Conditions in plain words, as people read them on cards, in help and in dry runs. Pure.

One describer for every condition a user is shown: a step's ``when``, an approval's
``required``, and the branches a dry run names for a message decided when the step runs.

    {{ params.big }}                      `big` is true
    {{ not params.big }}                  `big` is false
    {{ steps.monitor.failed }}            `monitor` failed
    {{ not steps.monitor.ok }}            `monitor` did not succeed
    steps.a.ok and params.n > 2           `a` succeeded and `n > 2`
    {{ steps.x.value | length > 3 }}      `steps.x.value | length > 3`

Anything it does not know is the expression itself, without its braces and without the
``params.`` before a param's name.
"""

from __future__ import annotations

import re

__all__ = ["describe_condition"]

_WHOLE = re.compile(r"^\s*\{\{(?P<expr>.*?)\}\}\s*$", re.S)
_PARAM = re.compile(r"(?<![\w.])params\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)")
_STEP = re.compile(r"steps\.(?P<id>[a-z][a-z0-9_]*)\.(?P<field>ok|failed|skipped)")
_NOT = re.compile(r"^not\s+")

# What a step's outcome field says, when true and when false.
_OUTCOMES = {
    "ok": ("succeeded", "did not succeed"),
    "failed": ("failed", "did not fail"),
    "skipped": ("was skipped", "was not skipped"),
}


def describe_condition(condition: str | bool) -> str:
    """``condition`` (``{{ expr }}``, a bare ``expr``, or a constant) in plain words."""
    if isinstance(condition, bool):
        return "always" if condition else "never"
    whole = _WHOLE.match(condition)
    expression = " ".join((whole.group("expr") if whole else condition).split())
    for joiner in (" and ", " or "):
        parts = expression.split(joiner)
        other = " or " if joiner == " and " else " and "
        # Only a plain chain of one kind is split: grouping, quotes or a mix of `and` and
        # `or` could change what the parts mean, so such an expression is shown whole.
        if len(parts) > 1 and not any(c in expression for c in "()'\"") and other not in expression:
            return joiner.join(_describe_part(part) for part in parts)
    return _describe_part(expression)


def _describe_part(expression: str) -> str:
    text = expression.strip()
    negated = bool(_NOT.match(text))
    name = _NOT.sub("", text, count=1).strip()
    if (param := _PARAM.fullmatch(name)) is not None:
        return f"`{param['name']}` is {'false' if negated else 'true'}"
    if (step := _STEP.fullmatch(name)) is not None:
        yes, no = _OUTCOMES[step["field"]]
        return f"`{step['id']}` {no if negated else yes}"
    return f"`{_PARAM.sub(lambda m: m['name'], text)}`"
