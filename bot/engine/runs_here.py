"""The runs executing in this process: one asyncio task each, started, watched and stopped.

Nothing awaits a run's task, so it ends every way without raising: how the run ended is in
the database and in chat, or in the log when neither could be told. A run another replica
cancelled (or presumed dead and interrupted) is stopped here by :meth:`RunsHere.watch`; all
of them are stopped when this process loses its database for too long
(:meth:`RunsHere.let_go`) or shuts down (:meth:`RunsHere.interrupt_all`).
"""

from __future__ import annotations

import asyncio

import structlog

from bot.clock import Clock
from bot.db.connect import UNREACHABLE
from bot.db.records import RunRecord
from bot.db.store import Store
from bot.engine.cancellation import stop_if_cancelled
from bot.engine.executor import Executor
from bot.engine.observer import safely
from bot.engine.outage import LOST_DATABASE, first_line
from bot.engine.overdue import OverdueWatch
from bot.lifecycle import SYSTEM, RunStatus
from bot.progress import Progress
from playbooks.catalog import Catalog

__all__ = ["RunsHere", "log_round_failed"]

log = structlog.get_logger(__name__)

# Statuses someone else gives a run executing here: it stops at once.
_STOPPED_ELSEWHERE = frozenset({RunStatus.CANCELLED, RunStatus.INTERRUPTED})


class RunsHere:
    """The tasks of the runs this process executes, by run id."""

    def __init__(
        self,
        *,
        store: Store,
        catalog: Catalog,
        executor: Executor,
        progress: Progress,
        overdue: OverdueWatch,
        clock: Clock,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._executor = executor
        self._progress = progress
        self._overdue = overdue
        self._clock = clock
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._stopping: set[int] = set()  # runs stopped here because heartbeats were lost

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, run: RunRecord, *, resume: bool = False) -> None:
        """Execute ``run`` (claimed for this process) in a task of its own."""
        task = asyncio.create_task(self._execute(run, resume), name=f"run-{run.id}")
        self._tasks[run.id] = task
        elapsed = 0.0
        if run.started_at is not None:
            elapsed = max((self._clock.now() - run.started_at).total_seconds(), 0.0)
        self._overdue.started(run, elapsed)

        def ended(_task: asyncio.Task[None]) -> None:
            self._tasks.pop(run.id, None)
            self._overdue.ended(run.id)

        task.add_done_callback(ended)

    def cancel(self, run_id: int) -> None:
        """Stop the run's task if it executes here (a shell step's process is killed)."""
        task = self._tasks.get(run_id)
        if task is not None:
            task.cancel()

    async def wait_idle(self) -> None:
        """Wait until every run executing here has ended."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def interrupt_all(self, *, grace: float) -> None:
        """Shutdown: each run executing here becomes ``interrupted`` (Resume / Abort in its
        thread), then its task is stopped; waits up to ``grace`` seconds for them."""
        for run_id in list(self._tasks):
            try:
                stopped = await self._store.transition(
                    run_id,
                    expected={RunStatus.RUNNING},
                    to=RunStatus.INTERRUPTED,
                    actor=SYSTEM,
                    surface=SYSTEM,
                    error="the bot was shut down while this run was executing",
                )
            except UNREACHABLE as exc:
                # It stays running under this process's name; once the database is back, a
                # sweep (the next start here, or another replica) finds it interrupted.
                log.warning("shutdown_not_recorded", run=run_id, error=first_line(exc))
                stopped = None
            if stopped is not None:
                await safely(self._progress.run_changed(stopped))
            self.cancel(run_id)  # (it may have ended by itself meanwhile)
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=grace)

    def let_go(self) -> None:
        """Stop every run executing here: this process's heartbeats have not reached the
        database for so long that another replica may soon presume it dead and take its
        runs over. Each is recorded interrupted once the database answers (unless another
        replica got there first), so no run ever executes in two places."""
        for run_id, task in self._tasks.items():
            if run_id not in self._stopping and run_id not in self._executor.stops.ending:
                log.warning("run_let_go", run=run_id, reason="heartbeats lost")
                self._stopping.add(run_id)
                task.cancel()

    async def watch(self, every: float) -> None:
        """Stop runs executing here that another replica cancelled: one query for them all.

        Only a status someone else sets stops a run (cancelled, or interrupted by a replica
        that presumed this one dead); a run that has just ended by itself is still reporting
        its end, which a cancel would lose.
        """
        while True:
            stop_if_cancelled()  # a round's database call may have lost a cancellation
            await asyncio.sleep(every)
            if not self._tasks:
                continue
            try:
                statuses = await self._store.statuses(list(self._tasks))
            except Exception as exc:
                log_round_failed("cancel_check_failed", exc)
                continue
            for run_id, status in statuses.items():
                task = self._tasks.get(run_id)
                if run_id in self._executor.stops.ending:
                    continue  # this process is recording how it stopped: its own status
                if task is not None and status in _STOPPED_ELSEWHERE:
                    self._progress.forget(run_id)  # its cached row says running no longer
                    task.cancel()
                    self._progress.request_refresh(run_id)  # the card shows how it stopped

    async def _execute(self, run: RunRecord, resume: bool) -> None:
        try:
            playbook = self._catalog.get(run.playbook)
            await self._executor.execute(run, playbook, SYSTEM, resume=resume)
        except asyncio.CancelledError:
            if run.id not in self._stopping:
                return  # the canceller has already recorded why
            # This process stopped it, its heartbeats lost: it records why, once it can.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            await self._abandon(run, RunStatus.INTERRUPTED, LOST_DATABASE)
        except Exception as exc:
            log.exception("run_crashed", run=run.id)
            await self._abandon(
                run, RunStatus.FAILED, f"internal error: {type(exc).__name__}: {exc}"
            )
        finally:
            self._stopping.discard(run.id)

    async def _abandon(self, run: RunRecord, to: RunStatus, error: str) -> None:
        """Record how a run stopped here ended, retrying until the database takes it."""
        try:
            await self._executor.stops.abandon(run, to, error)
        except Exception:
            log.exception("run_end_not_recorded", run=run.id)


def log_round_failed(event: str, exc: Exception, **context: str) -> None:
    """A background round failed: a database that is away is expected now and then and
    needs no traceback; anything else does."""
    if isinstance(exc, UNREACHABLE):
        log.warning(event, error=first_line(exc), **context)
    else:
        log.warning(event, exc_info=exc, **context)
