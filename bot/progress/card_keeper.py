"""Run cards as chat last showed them, and the edits that bring them up to date.

For a run executing in this process, what the executor reported stands in for reads: the
run's row (only this process changes it while it runs; a change made elsewhere, a cancel,
reaches :meth:`CardKeeper.forget` before the run's next report) and its steps (runs execute
on one replica at a time). Once the run has ended here with every step closed, its steps as
reported still do: nothing else writes the steps of a run that is not running. Cards whose
edit chat refused are remembered, for the periodic resync to bring them up to date.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from bot.cards import render_run_card
from bot.chat import Card, Chat
from bot.db.records import ApprovalRecord, RunRecord, StepRecord
from bot.db.store import Store
from bot.lifecycle import TERMINAL, RunStatus, StepStatus
from bot.plans import Plans
from playbooks.catalog import Catalog
from playbooks.model import Playbook

__all__ = ["CardKeeper", "asks_approval"]

_OPEN_STEP = frozenset({StepStatus.RUNNING, StepStatus.WAITING})
CardState = tuple[RunRecord, list[StepRecord], list[ApprovalRecord]]


def asks_approval(playbook: Playbook | None) -> bool:
    """Whether runs of ``playbook`` may have approval decisions (unknown: they may)."""
    return (
        playbook is None
        or playbook.approval is not None
        or any(s.approval is not None for s in playbook.steps)
    )


class CardKeeper:
    """Renders and edits the cards of runs; caches what it may of the runs executing here."""

    def __init__(
        self,
        *,
        store: Store,
        catalog: Catalog,
        plans: Plans,
        chat: Callable[[str], Chat],
        owner: str,
        timeout: Callable[[], float],
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._plans = plans
        self._chat = chat
        self._owner = owner
        self._timeout = timeout
        self._steps: dict[int, dict[tuple[str, str], StepRecord]] = {}
        self._runs: dict[int, RunRecord] = {}
        # Cards of runs executing here as last shown, to skip edits that would change nothing.
        self._last_cards: dict[int, Card] = {}
        self.stale: set[int] = set()  # runs whose card edit chat refused: to resync
        # Runs whose card owes a finished step: edited when the next step starts or the run
        # changes, so the last step and the run's end make one edit, not two.
        self.owed: set[int] = set()

    def first_start(self, run_id: int) -> None:
        """A run just started here for the first time: it has no steps yet, none to read."""
        self._steps[run_id] = {}

    def remember_step(self, step: StepRecord) -> None:
        """A step of a run executing here, as the executor reported it."""
        steps = self._steps.get(step.run_id)
        if steps is not None:
            steps[(step.phase, step.step_id)] = step

    def executing_here(self, run_id: int) -> bool:
        """Whether the run's row is cached: it is executing in this process."""
        return run_id in self._runs

    def forget(self, run_id: int) -> None:
        """Drop what is cached of a run: its next card edit reads the store."""
        self._steps.pop(run_id, None)
        self.forget_row(run_id)

    def forget_row(self, run_id: int) -> None:
        """Drop the run's row and card as last seen; its steps stay for :meth:`state` to
        judge."""
        self._runs.pop(run_id, None)
        self._last_cards.pop(run_id, None)

    async def state(self, run_id: int, current: RunRecord | None = None) -> CardState | None:
        """What the card shows: the run's row, its steps and (if it has any) approvals."""
        run = current or self._runs.get(run_id) or await self._store.get_run(run_id)
        if run is None:
            return None
        executing_here = run.status is RunStatus.RUNNING and run.owner == self._owner
        cached = self._steps.get(run_id)
        if not executing_here:
            self.forget(run_id)  # ended, or moved to another replica
            if run.owner != self._owner or cached is None or _any_open(cached.values()):
                cached = None
        else:
            self._runs[run_id] = run
        if cached is None:
            loaded = await self._store.steps(run_id)
            if executing_here:
                self._steps[run_id] = {(s.phase, s.step_id): s for s in loaded}
            steps = loaded
        else:
            steps = sorted(cached.values(), key=lambda s: (s.phase, s.position))
        playbook = self._catalog.find(run.playbook)
        decisions = await self._store.decisions(run_id) if asks_approval(playbook) else []
        return run, steps, decisions

    async def edit(self, run_id: int, current: RunRecord | None = None) -> None:
        """Edit the run's card to show where it stands; raises when chat refuses (the card
        is then stale until :meth:`stale` is resynced)."""
        try:
            state = await self.state(run_id, current)
            if state is not None:
                await self._edit(*state)
        except Exception:
            self.stale.add(run_id)
            raise

    async def _edit(
        self, current: RunRecord, steps: list[StepRecord], decisions: list[ApprovalRecord]
    ) -> None:
        if current.card is None:
            return
        plan = self._plans.of(current, keep=current.status not in TERMINAL)
        card = render_run_card(current, plan, steps, decisions)
        if self._last_cards.get(current.id) == card:
            self.stale.discard(current.id)  # chat already shows exactly this
            return
        async with asyncio.timeout(self._timeout()):
            await self._chat(current.surface).update_card(current.card, card)
        self.stale.discard(current.id)
        if current.id in self._runs:  # executing here: nobody else edits its card meanwhile
            self._last_cards[current.id] = card


def _any_open(steps: Iterable[StepRecord]) -> bool:
    return any(step.status in _OPEN_STEP for step in steps)
