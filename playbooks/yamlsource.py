"""Load YAML keeping where every value came from, so errors can name a file and line."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.constructor import SafeConstructor

from playbooks.errors import PlaybookFileError

__all__ = ["Loc", "LocatedYaml", "dotted_field", "load_yaml", "validation_problems"]

Loc = tuple[str | int, ...]

# libyaml's parser when PyYAML was built with it (about ten times faster). A document it
# refuses is parsed again by the pure-Python loader, so errors read the same either way.
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# pydantic names a union member in error locations: "list[int]", "function-before[parse(), float]".
_UNION_TAG = re.compile(
    r"^(?:list|dict|set|frozenset|tuple|literal|function-(?:before|after|wrap|plain))\[.*\]$"
)


@dataclass
class LocatedYaml:
    """A parsed document and the 1-based line of each path in it (``("steps", 0, "id")``)."""

    path: str
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """The line of ``loc``, or of its closest enclosing value that has one."""
        key = tuple(loc)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), None)


def load_yaml(path: Path, *, text: str | None = None) -> LocatedYaml:
    """Parse ``path`` (or ``text`` said to come from it); PlaybookFileError on bad YAML."""
    shown = str(path)
    try:
        source = path.read_text(encoding="utf-8") if text is None else text
    except OSError as exc:
        raise PlaybookFileError(shown, None, None, f"cannot read: {exc.strerror}") from exc
    try:
        node = yaml.compose(source, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        node = _compose_explaining(source, shown)
    located = LocatedYaml(shown, None)
    if node is not None:
        located.data = _construct(node, (), located.lines, shown, SafeConstructor())
    return located


def _compose_explaining(source: str, shown: str) -> yaml.Node | None:
    """The pure-Python loader's reading of ``source``: its error, worded as it words it."""
    try:
        return yaml.compose(source, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise PlaybookFileError(shown, line, None, f"invalid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise PlaybookFileError(shown, None, None, f"invalid YAML: {exc}") from exc


def _construct(
    node: yaml.Node, loc: Loc, lines: dict[Loc, int], path: str, scalars: SafeConstructor
) -> Any:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = scalars.construct_object(key_node)  # scalars only in keys
            if key in result:
                raise PlaybookFileError(
                    path,
                    key_node.start_mark.line + 1,
                    dotted_field((*loc, str(key))),
                    "this key appears twice",
                )
            child: Loc = (*loc, key)
            result[key] = _construct(value_node, child, lines, path, scalars)
            lines[child] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(item, (*loc, i), lines, path, scalars) for i, item in enumerate(node.value)
        ]
    return scalars.construct_object(node)


def validation_problems(
    located: LocatedYaml,
    error: ValidationError,
    *,
    prefix: Loc = (),
    skip: Callable[[Loc, str], bool] | None = None,
) -> list[PlaybookFileError]:
    """Each pydantic error as a PlaybookFileError naming the line and the dotted field.

    ``skip(loc, type)`` drops the errors it is true for (``loc`` is relative to ``prefix``).
    """
    problems = []
    for item in error.errors(include_url=False):
        relative = tuple(part for part in item["loc"] if not _is_union_tag(part))
        if skip is not None and skip(relative, item["type"]):
            continue
        loc = (*prefix, *relative)
        # "Value error, " is pydantic's wording, not ours: the user needs only the reason.
        message = item["msg"].removeprefix("Value error, ")
        dotted = dotted_field(loc) or None
        problems.append(PlaybookFileError(located.path, located.line_of(loc), dotted, message))
    return problems


def dotted_field(loc: Sequence[str | int]) -> str:
    """A location as a user reads it: ``("steps", 0, "with", "url")`` → ``steps[0].with.url``."""
    return ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[")


def _is_union_tag(part: str | int) -> bool:
    # pydantic adds the member type's name ("bool", "str") to union error locations, and
    # "[key]" to the error of a mapping key (the key itself names the field already).
    return isinstance(part, str) and (
        part in {"bool", "str", "float", "int", "[key]"} or bool(_UNION_TAG.match(part))
    )
