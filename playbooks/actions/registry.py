"""The action types a playbook may name: the built-in ones plus the ``chatops.actions`` plugins."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import structlog

from playbooks.actions.base import Action
from playbooks.errors import PlaybookError

__all__ = ["ENTRY_POINT_GROUP", "ActionRegistry", "builtin_actions"]

ENTRY_POINT_GROUP = "chatops.actions"
log = structlog.get_logger(__name__)


def builtin_actions() -> list[Action[Any]]:
    # Imported here so that importing the registry stays cheap for tools that only lint.
    from playbooks.actions.http import HttpAction
    from playbooks.actions.notify import NotifyAction
    from playbooks.actions.playbook import PlaybookAction
    from playbooks.actions.poll import PollAction
    from playbooks.actions.prometheus import PrometheusAction
    from playbooks.actions.shell import ShellAction
    from playbooks.actions.sql import SqlAction
    from playbooks.actions.wait import WaitAction

    return [
        HttpAction(),
        ShellAction(),
        SqlAction(),
        PrometheusAction(),
        WaitAction(),
        PollAction(),
        NotifyAction(),
        PlaybookAction(),
    ]


class ActionRegistry(Mapping[str, Action[Any]]):
    """Action types by name."""

    def __init__(self, actions: Iterable[Action[Any]]) -> None:
        self._by_name: dict[str, Action[Any]] = {}
        for action in actions:
            if action.name in self._by_name:
                raise PlaybookError(f"two action types are named `{action.name}`")
            self._by_name[action.name] = action

    @classmethod
    def default(cls) -> ActionRegistry:
        """Built-in actions plus every installed plugin; PlaybookError if a plugin is broken."""
        registry, problems = cls.scan()
        if problems:
            raise PlaybookError("\n".join(problems))
        return registry

    @classmethod
    def scan(cls) -> tuple[ActionRegistry, list[str]]:
        """Built-in actions plus every plugin that loads, and one line per plugin that does not.

        A broken plugin never hides the others: ``chatops check`` reports it and goes on.
        """
        actions = builtin_actions()
        problems = []
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            try:
                instance = _load_plugin(entry)
            except PlaybookError as exc:
                problems.append(exc.reason)
                continue
            if any(action.name == instance.name for action in actions):
                problems.append(
                    f"{_describe(entry)}: another action type is already named `{instance.name}`"
                )
                continue
            log.info("action_plugin_loaded", action=instance.name, source=entry.value)
            actions.append(instance)
        return cls(actions), problems

    def __getitem__(self, name: str) -> Action[Any]:
        return self._by_name[name]

    def __iter__(self) -> Any:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)


def _load_plugin(entry: EntryPoint) -> Action[Any]:
    """The Action an entry point names; PlaybookError saying which one and why, in one line."""
    try:
        plugin = entry.load()
        instance = plugin() if isinstance(plugin, type) else plugin
    except Exception as exc:  # a plug-in may raise anything while importing or starting
        raise PlaybookError(f"{_describe(entry)} failed to load: {_one_line(exc)}") from exc
    if not isinstance(instance, Action):
        raise PlaybookError(f"{_describe(entry)} is not a chatops Action")
    return instance


def _describe(entry: EntryPoint) -> str:
    return f"action plug-in `{entry.name} = {entry.value}` ({ENTRY_POINT_GROUP})"


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
