"""Turn what a user typed (``key=value`` strings) into typed, validated parameter values."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from playbooks.errors import ParamError
from playbooks.model import ParamSpec, ParamType, Playbook

__all__ = ["as_typed", "coerce_param", "missing_required", "resolve_params"]

_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}


def resolve_params(playbook: Playbook, given: Mapping[str, Any]) -> dict[str, Any]:
    """All of ``playbook``'s parameters: given values coerced, defaults filled in.

    Raises ParamError listing every problem at once, each naming the parameter and why.
    """
    problems: list[str] = []
    unknown = sorted(set(given) - set(playbook.params))
    for name in unknown:
        known = ", ".join(f"`{p}`" for p in playbook.params) or "none"
        problems.append(f"`{name}` is not a parameter of {playbook.name} (parameters: {known})")
    values: dict[str, Any] = {}
    for name, spec in playbook.params.items():
        if name in given:
            try:
                values[name] = coerce_param(spec, given[name])
            except ValueError as exc:
                problems.append(f"`{name}`: {exc}")
        elif spec.default is not None:
            # Typed like a given value: `default: "5"` of an integer is 5 (the linter checks it).
            try:
                values[name] = coerce_param(spec, spec.default)
            except ValueError as exc:
                problems.append(f"`{name}` default: {exc}")
        elif spec.required:
            problems.append(f"`{name}` is required ({_describe(spec)})")
        else:
            values[name] = None
    if problems:
        raise ParamError("; ".join(problems))
    return values


def as_typed(value: Any) -> str:
    """A param's value as someone would type it (what :func:`coerce_param` reads back):
    ``true`` / ``false``, a list as ``a,b``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def missing_required(playbook: Playbook, given: Mapping[str, Any]) -> list[str]:
    """Required parameters of ``playbook`` that ``given`` lacks (a form can ask for them)."""
    return [
        name
        for name, spec in playbook.params.items()
        if spec.required and spec.default is None and name not in given
    ]


def coerce_param(spec: ParamSpec, raw: Any) -> Any:
    """One value, typed and checked against ``spec``; ValueError says why in words."""
    if spec.type is ParamType.LIST:
        items = _split_list(raw)
        value: Any = [_check_scalar(spec, item, in_list=True) for item in items]
        return value
    return _check_scalar(spec, raw, in_list=False)


def _split_list(raw: Any) -> list[Any]:
    if isinstance(raw, list):
        return raw
    if isinstance(raw, str):
        return [part.strip() for part in raw.split(",") if part.strip()]
    return [raw]


def _check_scalar(spec: ParamSpec, raw: Any, *, in_list: bool) -> Any:
    value = _convert(spec.type, raw)
    if spec.choices is not None and value not in spec.choices:
        options = ", ".join(str(c) for c in spec.choices)
        what = f"`{raw}`" if in_list else f"{raw!r}"
        raise ValueError(f"{what} is not one of: {options}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if spec.min is not None and value < spec.min:
            raise ValueError(f"{value} is below the minimum {_num(spec.min)}")
        if spec.max is not None and value > spec.max:
            raise ValueError(f"{value} is above the maximum {_num(spec.max)}")
    if (
        spec.pattern is not None
        and isinstance(value, str)
        and not re.fullmatch(spec.pattern, value)
    ):
        raise ValueError(f"{value!r} does not match the pattern {spec.pattern}")
    return value


def _convert(kind: ParamType, raw: Any) -> Any:
    text = str(raw).strip() if not isinstance(raw, bool | int | float) else raw
    if kind is ParamType.BOOLEAN:
        if isinstance(text, bool):
            return text
        lowered = str(text).lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"expected true or false, got {raw!r}")
    if kind is ParamType.INTEGER:
        try:
            if isinstance(text, float) and not text.is_integer():
                raise ValueError
            return int(text) if not isinstance(text, str) else int(text, 10)
        except ValueError:
            raise ValueError(f"expected a whole number, got {raw!r}") from None
    if kind is ParamType.NUMBER:
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"expected a number, got {raw!r}")
        return number
    if isinstance(raw, str):
        return raw
    return str(raw)


def _num(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


def _describe(spec: ParamSpec) -> str:
    if spec.choices:
        return f"one of: {', '.join(str(c) for c in spec.choices)}"
    if spec.description:
        return spec.description
    return f"an {spec.type.value}" if spec.type is ParamType.INTEGER else f"a {spec.type.value}"
