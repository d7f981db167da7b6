"""Config-name checks: the roles, channels and connections a playbook names must be the config's.

What is checked, and what is only a warning, is told on :class:`ConfigNames`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from playbooks.lint.checked_file import CheckedFile
from playbooks.templating import has_template
from playbooks.yamlsource import Loc

__all__ = ["ConfigNames", "check_access", "check_config_references", "undefined_name"]


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
    connection_env: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    """The environment variable each connection reads its URL from, when known (a dry run
    warns when it is unset)."""


def check_access(checked: CheckedFile, names: ConfigNames) -> None:
    """Roles and channels the playbook names must be the config's (when it has some)."""
    data = checked.data
    if names.roles:
        _names_in(checked, names, ("allowed",), data.get("allowed"), "role", names.roles)
        gates: list[tuple[Loc, Any]] = [(("approval",), data.get("approval"))]
        gates += [((s, i, "approval"), step.get("approval")) for s, i, step in checked.sections()]
        for loc, gate in gates:
            if isinstance(gate, dict):
                approvers = gate.get("approvers")
                _names_in(checked, names, (*loc, "approvers"), approvers, "role", names.roles)
    if names.channels:
        _names_in(checked, names, ("channels",), data.get("channels"), "channel", names.channels)


def check_config_references(
    checked: CheckedFile, names: ConfigNames, loc: Loc, action: str, args: Mapping[str, Any]
) -> None:
    """Warn about a connection or channel the config lacks: that step would fail.

    ``loc`` holds the step's arguments ``args`` for ``action``. A templated name is only known
    at run time, and is not checked.
    """
    if action == "sql":
        connection = args.get("connection", "default")
        if _literal(connection) and connection not in names.connections:
            checked.warn(
                (*loc, "connection"),
                _undefined(names, "connection", connection, names.connections),
            )
    elif action == "notify":
        channel = args.get("channel")
        if _literal(channel) and channel not in names.channels:
            checked.warn(
                (*loc, "channel"),
                _undefined(names, "channel", channel, names.channels),
            )


def _names_in(
    checked: CheckedFile,
    names: ConfigNames,
    loc: Loc,
    listed: Any,
    kind: str,
    known: frozenset[str],
) -> None:
    for index, name in enumerate(listed if isinstance(listed, list) else []):
        if isinstance(name, str) and name not in known:
            checked.error(
                (*loc, index),
                f"no {kind} `{name}` in the config ({names.source};"
                f" {kind}s: {', '.join(sorted(known))})",
            )


def _undefined(names: ConfigNames, kind: str, name: str, known: frozenset[str]) -> str:
    return f"{undefined_name(names, kind, name, known)}: this step will fail until one is added"


def undefined_name(names: ConfigNames, kind: str, name: str, known: frozenset[str]) -> str:
    """``no connection `app` in the config (built-in defaults; it defines no connections)``."""
    defined = f"it defines {', '.join(sorted(known))}" if known else f"it defines no {kind}s"
    return f"no {kind} `{name}` in the config ({names.source}; {defined})"


def _literal(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and not has_template(value)
