"""The neutral commands of the chat grammar (parsed by handlers.grammar, run by the service)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CancelRun",
    "Command",
    "Help",
    "History",
    "ListPlaybooks",
    "RunStatusQuery",
    "ScheduleCommand",
    "StartRun",
    "decided_by_roles",
]


@dataclass(frozen=True)
class ListPlaybooks:
    """``/playbook list``: it takes nothing."""


@dataclass(frozen=True)
class Help:
    playbook: str | None = None


@dataclass(frozen=True)
class StartRun:
    playbook: str
    params: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False


@dataclass(frozen=True)
class RunStatusQuery:
    run_id: int


@dataclass(frozen=True)
class History:
    playbook: str | None = None


@dataclass(frozen=True)
class CancelRun:
    run_id: int


@dataclass(frozen=True)
class ScheduleCommand:
    verb: str  # list | run | pause | resume
    schedule_id: str | None = None


Command = ListPlaybooks | Help | StartRun | RunStatusQuery | History | CancelRun | ScheduleCommand


def decided_by_roles(command: Command) -> bool:
    """Whether answering ``command`` depends on the roles of whoever typed it (so a surface
    must know their groups first): starting, cancelling and scheduling do; reading the
    catalog, a run's status or the history is open to everyone."""
    return isinstance(command, StartRun | CancelRun | ScheduleCommand)
