"""How a run's engine records that it stopped before the run's end: a cancel, a lost
database, its own crash. The steps it left open are closed, each with how long it ran, and
chat is told."""

from __future__ import annotations

import functools

import structlog

from bot.db.connect import UNREACHABLE
from bot.db.records import RunRecord, StepRecord
from bot.db.store import Store
from bot.engine.observer import RunObserver, safely
from bot.engine.outage import first_line, until_stored
from bot.lifecycle import SYSTEM, RunStatus

__all__ = ["RunStops"]

log = structlog.get_logger(__name__)
# The statuses a run's own engine gives it as it ends; nobody else sets them.
_ENDED_BY_ITS_ENGINE = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.ROLLED_BACK})


class RunStops:
    """The ends of runs executing in the process ``owner``, other than their own."""

    def __init__(self, *, store: Store, observer: RunObserver, owner: str) -> None:
        self.store = store
        self.observer = observer
        self.owner = owner
        # Runs whose end :meth:`abandon` is recording: the status it gives them is its own
        # doing, not a stop from elsewhere for the process to act on.
        self.ending: set[int] = set()

    async def abandon(
        self, run: RunRecord, to: RunStatus, error: str, *, sub_runs: tuple[int, ...] = ()
    ) -> RunRecord:
        """Record that this process stopped executing ``run`` before its end: the run moves
        to ``to`` (interrupted, or failed when the engine itself broke) if it is still running
        here, the steps it left open are closed, ``sub_runs`` are cancelled with it, and chat
        is told. Each write is retried until the database takes it; a cancel ends the tries.

        Returns the run as it then stands: if another change won (a cancel, another
        replica's sweep) that decision stands, and whoever made it has reported it.
        """
        self.ending.add(run.id)
        try:
            return await self._abandon(run, to, error, sub_runs)
        finally:
            self.ending.discard(run.id)

    async def _abandon(
        self, run: RunRecord, to: RunStatus, error: str, sub_runs: tuple[int, ...]
    ) -> RunRecord:
        for sub_run in sub_runs:
            await self._end_sub_run(sub_run, error)
        ended = await until_stored(
            lambda: self.store.transition(
                run.id,
                expected={RunStatus.RUNNING},
                to=to,
                actor=SYSTEM,
                surface=SYSTEM,
                error=error,
                held_by=self.owner,
            ),
            what=f"run.{to.value}",
            run_id=run.id,
        )
        if ended is None:
            current = await until_stored(
                functools.partial(self._reload, run.id), what="run read", run_id=run.id
            )
            if current.owner == self.owner and current.status in _ENDED_BY_ITS_ENGINE:
                # This engine's own last transition landed but its answer was lost on the
                # way back: nobody has reported it yet.
                await safely(self.observer.run_changed(current))
            return current
        summary = "the run failed" if to is RunStatus.FAILED else f"the run was {to.value}"
        await self._close_steps(run, summary)
        await safely(self.observer.run_changed(ended))
        return ended

    async def cancelled(self, run: RunRecord) -> None:
        """Close what a cancel left open, as far as the database lets it now: whatever it
        refuses is left to whoever finds the run later (a sweep, a cancel, Abort)."""
        try:
            await self._close_after_cancel(run)
        except UNREACHABLE as exc:
            log.warning("run_stop_not_recorded", run=run.id, error=first_line(exc))
        except Exception:  # nobody awaits a shielded stop that outlived its task
            log.exception("run_stop_not_recorded", run=run.id)

    async def _end_sub_run(self, run_id: int, error: str) -> None:
        """Cancel a sub-playbook's run that stopped with its parent, and close its steps:
        nothing executes it any more (a parent's Resume starts the sub-playbook afresh)."""
        ended = await until_stored(
            lambda: self.store.transition(
                run_id,
                expected={RunStatus.PENDING, RunStatus.RUNNING},
                to=RunStatus.CANCELLED,
                actor=SYSTEM,
                surface=SYSTEM,
                error=error,
                detail={"reason": "parent run stopped"},
            ),
            what="sub-playbook stop",
            run_id=run_id,
        )
        child = ended
        if child is None:  # cancelled before, maybe by this very write whose answer was lost
            child = await until_stored(
                functools.partial(self._reload, run_id), what="run read", run_id=run_id
            )
        await self._close_steps(child, "the run was cancelled")
        if ended is not None:
            await safely(self.observer.run_changed(ended))

    async def _close_steps(self, run: RunRecord, summary: str) -> None:
        closed = await until_stored(
            lambda: self.store.close_open_steps(run.id, summary=summary, actor=SYSTEM),
            what="open steps",
            run_id=run.id,
        )
        for record in closed:
            await self._tell_step(run, record)

    async def _close_after_cancel(self, run: RunRecord) -> None:
        """Close the steps the stop left open (a main or rollback step running, a gate
        waiting), each with how long it ran; a child run ends with its parent."""
        stopped = await self.store.get_run(run.id)
        how = stopped.status if stopped and stopped.status is not RunStatus.RUNNING else None
        summary = f"the run was {(how or RunStatus.CANCELLED).value}"
        for record in await self.store.close_open_steps(run.id, summary=summary, actor=SYSTEM):
            await self._tell_step(run, record)
        if run.parent_run_id is not None:
            ended = await self.store.transition(
                run.id,
                expected={RunStatus.RUNNING},
                to=RunStatus.CANCELLED,
                actor=SYSTEM,
                surface=SYSTEM,
                detail={"reason": "parent run stopped"},
            )
            if ended is not None:
                await safely(self.observer.run_changed(ended))

    async def _reload(self, run_id: int) -> RunRecord:
        current = await self.store.get_run(run_id)
        assert current is not None
        return current

    async def _tell_step(self, run: RunRecord, record: StepRecord) -> None:
        await safely(self.observer.step_finished(run, record))
