"""Which step conditions a dry run can decide: a ``when`` that reads only ``params``.

Such a condition has the same value in the plan as in the run, so the plan shows the step
as taken or skipped for the given params instead of listing it with its condition. A
condition that reads anything else (``steps.x.failed``, ``run``, ``env``) is shown as written.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from jinja2 import TemplateSyntaxError, meta

from playbooks.templating import evaluate_condition, has_template, template_sandbox

__all__ = ["decided_by_params", "names_read", "reads_only_params"]


@functools.lru_cache(maxsize=2048)
def names_read(text: str, *, expression: bool = False) -> frozenset[str] | None:
    """The top-level names a template reads (``params``, ``steps`` …); None if it does not
    compile. With ``expression``, a bare ``expr`` counts as ``{{ expr }}``."""
    source = "{{ " + text + " }}" if expression and not has_template(text) else text
    try:
        return frozenset(meta.find_undeclared_variables(template_sandbox().parse(source)))
    except TemplateSyntaxError:
        return None


def reads_only_params(condition: str) -> bool:
    """Whether ``condition`` (``{{ expr }}`` or a bare ``expr``) reads no name but ``params``.

    A condition that does not compile is not decided here: running it reports the error.
    """
    names = names_read(condition, expression=True)
    return names is not None and names <= {"params"}


def decided_by_params(condition: str | None, params: Mapping[str, Any]) -> bool | None:
    """The value of ``condition`` with these params, or None when only a run can tell.

    No condition is always true. Raises TemplateError when a params-only condition is broken
    (``params.count > 'x'``): the run would fail that step the same way.
    """
    if condition is None:
        return True
    if not reads_only_params(condition):
        return None
    return evaluate_condition(condition, {"params": dict(params)})
