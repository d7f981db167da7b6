"""The Jinja2 sandbox playbook templates render in, and the secrets it keeps opaque.

``secrets.NAME`` is a :class:`Secret`. A template may *place* one — output it whole, as
``{{ secrets.NAME }}`` alone or amid text, or as a branch of ``x if c else y`` — and nothing
else: a filter, a test, an attribute or method, a subscript, an operator (``~``, ``+``,
``%``…), a comparison, a truth test, iteration, or passing it to a function is refused with a
:class:`SecretMisuse` that names the secret. So a secret reaches a request, a command or a
message only as itself, which redaction recognises (with its common encodings).

Output that Jinja captures as text (``{% set x %}…{% endset %}``, a macro's body, a
``{% filter %}`` block) must not hold the value either, or a filter applied to that text
would transform it. So placing writes a placeholder; the renderer swaps each placeholder left
whole for its value only once the string is rendered (:func:`placing`). A filter, test,
method or subscript that meets a placeholder is refused as one meeting the secret would be,
and a placeholder broken some other way (iterated over, say) fails the render. The value
never exists as text a template can reach.
"""

from __future__ import annotations

import functools
import re
import secrets as random_tokens
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NoReturn, cast

from jinja2 import StrictUndefined
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from playbooks.errors import TemplateError

__all__ = [
    "Placements",
    "Secret",
    "SecretMisuse",
    "build_sandbox",
    "misuse_reason",
    "placing",
    "reveal",
]

# Unicode noncharacters, reserved for a program's internal use: they bracket a placeholder,
# which is a render's random nonce and the index of the secret placed.
_OPEN, _CLOSE = "\ufdd0", "\ufdd1"
_PLACEHOLDER = re.compile(f"{_OPEN}([0-9a-f]{{16}})([0-9]+){_CLOSE}")


def misuse_reason(name: str, how: str) -> str:
    """What is wrong when ``secrets.NAME`` is used ``how`` (a phrase: "cannot be compared")."""
    return (
        f"`secrets.{name}` {how}: a secret is only placed whole, as `{{{{ secrets.{name} }}}}`,"
        " so that redaction recognises it"
    )


class SecretMisuse(TemplateError):
    """A template transforms a secret (or tries to) instead of placing it whole."""

    def __init__(self, names: tuple[str, ...], how: str, field: str | None = None) -> None:
        reason = "; ".join(misuse_reason(name, how) for name in names)
        super().__init__(f"in `{field}`: {reason}" if field else reason)
        self.names = names
        self.how = how
        self.field = field

    def in_field(self, field: str) -> SecretMisuse:
        """The same misuse, said to be in ``field`` (``headers.Authorization``)."""
        return SecretMisuse(self.names, self.how, field)


class Secret:
    """A secret's value as templates hold it: placed whole, never read or changed."""

    __slots__ = ("_value", "name")

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self._value = value

    def _refuse(self, how: str) -> NoReturn:
        raise SecretMisuse((self.name,), how)

    def __str__(self) -> str:
        self._refuse("cannot be turned into text (with `~`, `%`, `join`, `string`…)")

    def __repr__(self) -> str:
        self._refuse("cannot be turned into text (inside a list or mapping, say)")

    def __format__(self, spec: str) -> str:
        self._refuse("cannot be formatted")

    def __bool__(self) -> bool:
        self._refuse("cannot be tested for truth (with `if`, `and`, `or`, `not`)")

    def __len__(self) -> int:
        self._refuse("has no length a template may read")

    def __iter__(self) -> Iterator[str]:
        self._refuse("cannot be iterated")

    def __getitem__(self, key: object) -> str:
        # Jinja subscripts a slice (`[::-1]`) directly, not through the sandbox's getitem.
        self._refuse("cannot be indexed or sliced")

    def __contains__(self, item: object) -> bool:
        self._refuse("cannot be searched (with `in`)")

    def __eq__(self, other: object) -> bool:
        self._refuse("cannot be compared")

    def __ne__(self, other: object) -> bool:
        self._refuse("cannot be compared")

    def __lt__(self, other: object) -> bool:
        self._refuse("cannot be compared or sorted")

    __le__ = __gt__ = __ge__ = __lt__

    def __hash__(self) -> int:
        self._refuse("cannot be a key of a mapping")


def reveal(secret: Secret) -> str:
    """The value of ``secret``: for the renderer, which places it, only."""
    return secret._value


class Placements:
    """The secrets placed while one string renders, and the placeholders standing for them."""

    def __init__(self) -> None:
        self.secrets: list[Secret] = []
        self._nonce = ""

    def place(self, secret: Secret) -> str:
        if not self._nonce:
            # Random per render, so that text a user typed cannot pass for a placeholder.
            self._nonce = random_tokens.token_hex(8)
        self.secrets.append(secret)
        return f"{_OPEN}{self._nonce}{len(self.secrets) - 1}{_CLOSE}"

    def holds_placeholder(self, text: str) -> bool:
        return bool(self._nonce) and self._nonce in text

    def names_in(self, text: str) -> tuple[str, ...]:
        """The names of the secrets whose placeholders ``text`` holds (all placed, if it holds
        none whole: a broken placeholder no longer says which it was)."""
        found = [self.secrets[int(m[2])].name for m in self._ours(text)]
        return tuple(dict.fromkeys(found or [s.name for s in self.secrets]))

    def fill(self, text: str) -> str:
        """``text`` with every placeholder replaced by its secret's value; SecretMisuse if
        the template broke one."""
        if not self.secrets:
            return text
        rest = _PLACEHOLDER.sub(lambda m: "" if m[1] == self._nonce else m[0], text)
        if self._nonce in rest or _OPEN in rest or _CLOSE in rest:
            raise SecretMisuse(self.names_in(""), "was taken apart by the template")
        return _PLACEHOLDER.sub(
            lambda m: reveal(self.secrets[int(m[2])]) if m[1] == self._nonce else m[0], text
        )

    def _ours(self, text: str) -> list[re.Match[str]]:
        return [m for m in _PLACEHOLDER.finditer(text) if m[1] == self._nonce]


_PLACEMENTS: ContextVar[Placements | None] = ContextVar("placements", default=None)


@contextmanager
def placing() -> Iterator[Placements]:
    """Render one string in this block, then :meth:`Placements.fill` its output."""
    placements = Placements()
    token = _PLACEMENTS.set(placements)
    try:
        yield placements
    finally:
        _PLACEMENTS.reset(token)


def _refuse_secret(value: Any, how: str) -> None:
    """SecretMisuse when ``value`` is a secret, or text holding a placed one."""
    if isinstance(value, Secret):
        raise SecretMisuse((value.name,), how)
    if isinstance(value, str):
        placements = _PLACEMENTS.get()
        if placements is not None and placements.holds_placeholder(value):
            raise SecretMisuse(placements.names_in(value), how)


def _finalize(value: Any) -> Any:
    """What ``{{ … }}`` outputs: a secret becomes the placeholder :func:`placing` fills in,
    and a boolean is spelled as YAML, JSON and URLs spell it (``true``, not Python's
    ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, Secret):
        return value
    placements = _PLACEMENTS.get()
    if placements is None:
        raise SecretMisuse((value.name,), "cannot be placed outside a step's arguments")
    return placements.place(value)


def _no_json(value: Any) -> NoReturn:
    if isinstance(value, Secret):
        raise SecretMisuse((value.name,), "cannot be turned into JSON")
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _guarded(function: Callable[..., Any], how: str) -> Callable[..., Any]:
    """``function`` (a filter or a test) refusing secrets among its arguments."""

    @functools.wraps(function)  # keeps the pass_context markers Jinja reads
    def guarded(*args: Any, **kwargs: Any) -> Any:
        for value in (*args, *kwargs.values()):
            _refuse_secret(value, how)
        return function(*args, **kwargs)

    return guarded


class _SecretSandbox(SandboxedEnvironment):
    """The sandbox with secrets kept opaque: no attribute, item, operator, filter, test or
    call may take one."""

    # Arithmetic goes through call_binop / call_unop, where a secret operand is refused.
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    intercepted_unops = frozenset({"+", "-"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, finalize=_finalize)
        self.filters = {
            name: _guarded(function, f"cannot go through the `{name}` filter")
            for name, function in self.filters.items()
        }
        self.tests = {
            # Jinja leaves its test table's type to inference: a dict of plain `function`s.
            name: _guarded(cast(Callable[..., Any], function), f"cannot be tested with `is {name}`")
            for name, function in self.tests.items()
        }
        self.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": _no_json}

    def getattr(self, obj: Any, attribute: str) -> Any:
        _refuse_secret(obj, f"cannot be read as `.{attribute}`")
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: str | Any) -> Any:
        _refuse_secret(obj, "cannot be indexed or sliced")
        return super().getitem(obj, argument)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        for operand in (left, right):
            if isinstance(operand, Secret):
                raise SecretMisuse((operand.name,), f"cannot be an operand of `{operator}`")
        return super().call_binop(context, operator, left, right)

    def call_unop(self, context: Context, operator: str, arg: Any) -> Any:
        if isinstance(arg, Secret):
            raise SecretMisuse((arg.name,), f"cannot be an operand of `{operator}`")
        return super().call_unop(context, operator, arg)

    def call(
        __self,  # Jinja's own signature: a function's keyword arguments may be named `self`
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        for value in (*args, *kwargs.values()):
            if isinstance(value, Secret):
                raise SecretMisuse((value.name,), "cannot be passed to a function or macro")
        return super().call(__context, __obj, *args, **kwargs)


def build_sandbox() -> SandboxedEnvironment:
    """A new sandboxed environment that keeps :class:`Secret` values opaque."""
    return _SecretSandbox()
