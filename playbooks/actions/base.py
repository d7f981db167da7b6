"""What every action type implements, and what the engine hands it while it runs.

An action has a ``plan()`` — a line of dry-run text with no side effects — and an
``execute()`` that does the work through the :class:`ActionContext` the engine provides.
Third-party action types subclass :class:`Action` and register in the ``chatops.actions``
entry-point group.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict

from playbooks.errors import MisconfiguredError

__all__ = [
    "Action",
    "ActionArgs",
    "ActionContext",
    "ActionResult",
    "MisconfiguredError",  # kept here too: plug-in actions import it from this module
]


class ActionArgs(BaseModel):
    """Base for an action's ``with:`` arguments (unknown keys are an error)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


ArgsT = TypeVar("ArgsT", bound=ActionArgs)


@dataclass(frozen=True)
class ActionResult:
    """What a step produced.

    ``summary`` is the one line shown in the run's thread; ``output`` the longer text kept
    with the step (truncated and redacted by the engine); ``value`` the main result later
    steps read as ``steps.ID.value``; ``data`` any other fields they may read.
    """

    summary: str
    output: str = ""
    value: Any = None
    data: Mapping[str, Any] = field(default_factory=dict)


class ActionContext(Protocol):
    """The engine's services for an executing action."""

    @property
    def run_id(self) -> int: ...

    @property
    def step_id(self) -> str: ...

    @property
    def http(self) -> httpx.AsyncClient:
        """A shared client: 30 s timeouts, no redirects followed, pooled connections."""
        ...

    @property
    def environ(self) -> Mapping[str, str]:
        """Environment available to actions (for defaults such as PROMETHEUS_URL)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep on the engine's clock (tests inject a fast one)."""
        ...

    def evaluate(self, expression: str, extra: Mapping[str, Any]) -> Any:
        """The truth of ``{{ expr }}`` or ``expr`` over the run's variables plus ``extra``.

        Raises TemplateError when the expression is broken.
        """
        ...

    async def run_action(self, spec: Mapping[str, Any]) -> ActionResult:
        """Execute a nested action given as ``{action: NAME, ...args}``.

        Its templates are rendered on every call (a poll sees fresh values); an unknown
        action or bad arguments raise MisconfiguredError.
        """
        ...

    async def notify(self, text: str, channel: str | None) -> str:
        """Post ``text`` to the run's thread, or to a named channel; returns where."""
        ...

    async def run_playbook(self, name: str, params: Mapping[str, Any]) -> ActionResult:
        """Run another playbook as a child of this run and wait for its end."""
        ...

    def sql_url(self, connection: str) -> str:
        """The SQLAlchemy URL of a named connection from the config.

        Raises MisconfiguredError naming what is missing (no such connection, variable unset).
        """
        ...


class Action(ABC, Generic[ArgsT]):
    """An action type. Subclasses set ``name`` and ``Args`` and implement the two methods."""

    name: ClassVar[str]
    Args: type[ArgsT]
    summary: ClassVar[str] = ""
    lazy_args: ClassVar[frozenset[str]] = frozenset()
    """Arguments the engine leaves unrendered: the action evaluates them itself (``until``)."""

    def parse(self, raw: Mapping[str, Any]) -> ArgsT:
        """Validate rendered ``with:`` arguments (pydantic ValidationError on a problem)."""
        return self.Args.model_validate(dict(raw))

    @abstractmethod
    def plan(self, args: ArgsT) -> str:
        """One line of dry-run text saying what ``execute`` would do. No side effects."""

    @abstractmethod
    async def execute(self, args: ArgsT, ctx: ActionContext) -> ActionResult:
        """Do the work; raise ActionError (with a reason) when it fails."""

    def estimate_seconds(self, args: ArgsT) -> float:
        """Worst-case seconds this action may take; 0 when it is quick."""
        return 0.0

    def environment(self, args: ArgsT) -> tuple[str, ...]:
        """Environment variables ``execute`` reads itself with these arguments (a default
        such as ``PROMETHEUS_URL``); a dry run warns about each one that is unset."""
        return ()
