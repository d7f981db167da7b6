"""Sandboxed Jinja2 templates for step arguments, conditions and estimates.

A string that is exactly one ``{{ expression }}`` evaluates to the expression's native value
(a bool stays a bool, a list a list); any other string renders to text. Templates see
``params``, ``steps`` (results of earlier steps), ``env`` (non-secret environment variables),
``secrets`` (secret ones, redacted wherever output is shown) and ``run``. A secret may only be
placed whole, never transformed (:mod:`playbooks.sandbox` says how that is enforced).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jinja2 import TemplateSyntaxError, Undefined, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from playbooks.errors import TemplateError
from playbooks.sandbox import Secret, SecretMisuse, build_sandbox, placing, reveal
from playbooks.secrets import REDACTED, is_secret_name
from playbooks.yamlsource import Loc, dotted_field

__all__ = [
    "DeferredValue",
    "EnvView",
    "SecretsView",
    "UndecidedInDryRun",
    "contains_template",
    "evaluate",
    "evaluate_condition",
    "has_template",
    "render_value",
    "template_sandbox",
]

_ENV = build_sandbox()
_WHOLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>.*?)\}\}\s*$", re.S)


def template_sandbox() -> SandboxedEnvironment:
    """The sandboxed Jinja2 environment every playbook template renders in.

    Checks that compile a template ahead of a run use it too, so that they know exactly the
    filters, tests and globals a run will. It is shared: do not change it.
    """
    return _ENV


@functools.lru_cache(maxsize=2048)
def _compiled_expression(expression: str) -> Any:
    # Playbooks render the same few hundred templates over and over: compile each once.
    return _ENV.compile_expression(expression, undefined_to_none=False)


@functools.lru_cache(maxsize=2048)
def _compiled_template(text: str) -> Any:
    return _ENV.from_string(text)


def has_template(value: object) -> bool:
    """Whether ``value`` (a string) contains template syntax."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def contains_template(value: object) -> bool:
    """Whether ``value`` or anything inside it (lists and dicts) contains template syntax."""
    if isinstance(value, dict):
        return any(contains_template(item) for item in value.values())
    if isinstance(value, list):
        return any(contains_template(item) for item in value)
    return has_template(value)


class EnvView(Mapping[str, str]):
    """``env.NAME`` in templates: non-secret environment variables only."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def __getitem__(self, name: str) -> str:
        if is_secret_name(name):
            raise TemplateError(f"`env.{name}` holds a secret; use `secrets.{name}` instead")
        try:
            return self._environ[name]
        except KeyError:
            raise TemplateError(f"environment variable {name} is not set") from None

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __iter__(self) -> Any:
        return (k for k in self._environ if not is_secret_name(k))

    def __len__(self) -> int:
        return sum(1 for _ in self)


class SecretsView(Mapping[str, Secret]):
    """``secrets.NAME`` in templates: an opaque :class:`~playbooks.sandbox.Secret`, placed
    whole or not at all. Every value read is reported to ``on_read`` for redaction.

    With ``reveal=False`` (dry runs) the value is never read: ``***`` stands in its place.
    Listing the secrets lists none.
    """

    def __init__(
        self,
        environ: Mapping[str, str],
        on_read: Callable[[str], None] = lambda _value: None,
        *,
        reveal: bool = True,
    ) -> None:
        self._environ = environ
        self._on_read = on_read
        self._reveal = reveal

    def __getitem__(self, name: str) -> Secret:
        if name not in self._environ:
            raise TemplateError(f"secret {name} is not set in the environment")
        if not self._reveal:
            return Secret(name, REDACTED)
        value = self._environ[name]
        self._on_read(value)
        return Secret(name, value)

    def __getattr__(self, name: str) -> Secret:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


class DeferredValue:
    """Stands in for a value only known at run time (``steps.x.output`` in a dry run).

    It renders as ``<steps.x.output>`` and answers any attribute or item with a deeper
    deferred value, so a plan can show a template without running earlier steps.
    """

    def __init__(self, path: str) -> None:
        self._path = path

    def __getattr__(self, name: str) -> DeferredValue:
        if name.startswith("_"):
            raise AttributeError(name)
        return DeferredValue(f"{self._path}.{name}")

    def __getitem__(self, key: object) -> DeferredValue:
        return DeferredValue(f"{self._path}[{key!r}]")

    def __iter__(self) -> Iterator[DeferredValue]:
        # One stand-in item. Without this, iter() would call __getitem__(0), (1), … forever
        # and `{% for row in steps.x.value %}` would hang a dry run.
        yield self[0]

    def __str__(self) -> str:
        return f"<{self._path}>"

    __repr__ = __str__

    def __bool__(self) -> bool:
        # A dry run cannot know which branch a run will take: say so rather than guess.
        raise UndecidedInDryRun(self._path)


class UndecidedInDryRun(Exception):
    """A dry run met a condition on a result that only a real run will know."""


def evaluate(expression: str, variables: Mapping[str, Any]) -> Any:
    """The native value of a bare expression such as ``params.full_refresh and x > 2``.

    An expression that is one secret (``secrets.API_TOKEN``) is that secret's value: it is
    placed whole. A secret inside a list or mapping it builds is refused.
    """
    return _placed(_evaluate(expression, variables))


def _evaluate(expression: str, variables: Mapping[str, Any]) -> Any:
    try:
        compiled = _compiled_expression(expression)
        value = compiled(**variables)
        if isinstance(value, Undefined):
            # A bare `{{ params.typo }}` (or an unsafe attribute) is not an error until used:
            # rendering it raises the error that says what is missing or unsafe.
            str(value)
        return value
    except (TemplateError, UndecidedInDryRun):
        raise
    except (TemplateSyntaxError, UndefinedError, SecurityError) as exc:
        raise TemplateError(f"in `{expression.strip()}`: {exc}") from exc
    except Exception as exc:  # a template may raise anything; the user sees which one
        raise TemplateError(f"in `{expression.strip()}`: {type(exc).__name__}: {exc}") from exc


def _placed(value: Any) -> Any:
    if isinstance(value, Secret):
        return reveal(value)
    names = _secret_names(value)
    if names:
        raise SecretMisuse(names, "cannot be put in a list or mapping")
    return value


def _secret_names(value: Any) -> tuple[str, ...]:
    """The secrets inside the lists and mappings of ``value`` (walked without recursion: a
    step's JSON value may nest deeper than Python's stack)."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Secret):
            found.add(item.name)
        elif isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list | tuple | set | frozenset):
            stack += list(item)
    return tuple(sorted(found))


def evaluate_condition(text: str | bool, variables: Mapping[str, Any]) -> bool:
    """The truth of a condition written as ``{{ expr }}`` or as a bare ``expr``.

    A condition never reads a secret: testing one would be using it, not placing it.
    """
    if isinstance(text, bool):
        return text
    whole = _WHOLE_EXPRESSION.match(text)
    expression = whole.group("expr") if whole else text
    return bool(_evaluate(expression, variables))


def render_value(value: Any, variables: Mapping[str, Any]) -> Any:
    """Render every template inside ``value`` (recursing into lists and dicts).

    A secret used other than placed whole raises SecretMisuse naming the secret and where in
    ``value`` it is (``headers.Authorization``).
    """
    return _render(value, variables, ())


def _render(value: Any, variables: Mapping[str, Any], loc: Loc) -> Any:
    if isinstance(value, str):
        try:
            return _render_string(value, variables)
        except SecretMisuse as exc:
            raise (exc.in_field(dotted_field(loc)) if loc and exc.field is None else exc) from None
    if isinstance(value, list):
        return [_render(item, variables, (*loc, index)) for index, item in enumerate(value)]
    if isinstance(value, dict):
        return {key: _render(item, variables, (*loc, key)) for key, item in value.items()}
    return value


def _render_string(text: str, variables: Mapping[str, Any]) -> Any:
    if not has_template(text):
        return text
    whole = _WHOLE_EXPRESSION.match(text)
    if whole and "{{" not in whole.group("expr") and "}}" not in whole.group("expr"):
        return evaluate(whole.group("expr"), variables)
    try:
        with placing() as placements:
            rendered = _compiled_template(text).render(**variables)
        return placements.fill(rendered)
    except (TemplateError, UndecidedInDryRun):
        raise
    except (TemplateSyntaxError, UndefinedError, SecurityError) as exc:
        raise TemplateError(f"in `{text.strip()}`: {exc}") from exc
    except Exception as exc:  # a template may raise anything; the user sees which one
        raise TemplateError(f"in `{text.strip()}`: {type(exc).__name__}: {exc}") from exc
