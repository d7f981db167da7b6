"""Runs still going at twice their estimate: said once in their thread, to those who can act.

The runbooks' rule ("if it takes over 2x its estimate, escalate"): a run executing here
whose estimate is known gets a timer when it starts; if it is still executing when twice
its estimate has passed, its thread says so, mentioning the playbook's approvers (or, when
it has none, the roles allowed to start it), with Cancel at hand. Once per run and process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.db.records import RunRecord
from bot.engine.observer import safely
from playbooks.catalog import Catalog

__all__ = ["OVERDUE_FACTOR", "OverdueWatch", "escalation_roles"]

OVERDUE_FACTOR = 2.0

Escalate = Callable[[RunRecord, float, list[str]], Awaitable[None]]
"""Says in the run's thread that it took ``seconds`` so far, mentioning ``roles``."""


def escalation_roles(catalog: Catalog, playbook: str) -> list[str]:
    """Who is told a run is overdue: the playbook's approvers (its own and its step gates'),
    else the roles allowed to start it; none for a playbook the catalog no longer has."""
    found = catalog.find(playbook)
    if found is None:
        return []
    roles: list[str] = []
    policies = [found.approval] if found.approval else []
    policies += [step.approval for step in found.steps if step.approval]
    for policy in policies:
        roles += [role for role in policy.approvers if role not in roles]
    return roles or list(found.allowed)


class OverdueWatch:
    """One timer per run executing here with an estimate."""

    def __init__(self, catalog: Catalog, escalate: Escalate) -> None:
        self._catalog = catalog
        self._escalate = escalate
        self._timers: dict[int, asyncio.Task[None]] = {}

    def started(self, run: RunRecord, elapsed: float = 0.0) -> None:
        """``run`` started (or resumed) executing here, ``elapsed`` seconds after it first
        started."""
        if run.estimate_seconds <= 0 or run.parent_run_id is not None:
            return
        self.ended(run.id)
        due = OVERDUE_FACTOR * run.estimate_seconds - elapsed
        self._timers[run.id] = asyncio.create_task(
            self._after(run, max(due, 0.0), OVERDUE_FACTOR * run.estimate_seconds),
            name=f"overdue-{run.id}",
        )

    def ended(self, run_id: int) -> None:
        """The run stopped executing here: no escalation for it from now on."""
        timer = self._timers.pop(run_id, None)
        if timer is not None and not timer.done():
            timer.cancel()

    def close(self) -> None:
        for run_id in list(self._timers):
            self.ended(run_id)

    async def _after(self, run: RunRecord, delay: float, took: float) -> None:
        # Real time, like every timer of the process: an estimate is of wall-clock time.
        await asyncio.sleep(delay)
        self._timers.pop(run.id, None)
        await safely(self._escalate(run, took, escalation_roles(self._catalog, run.playbook)))
