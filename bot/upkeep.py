"""What this process does every heartbeat, for as long as it runs.

It tells the database it is alive (the runs it executes are not orphaned), finds the runs
a dead process left behind and marks them ``interrupted``, brings cards up to date that chat
refused to edit, and forgets delivery keys too old to be retried. A heartbeat that cannot
reach the database for half of ``stale_after`` makes this process stop its own runs
(:meth:`~bot.engine.runs_here.RunsHere.let_go`), before another replica could presume it
dead and resume them.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.db.records import RunRecord
from bot.dependencies import Dependencies
from bot.engine.cancellation import stop_if_cancelled
from bot.engine.liveness import OwnerId, is_orphaned, must_let_go
from bot.engine.observer import safely
from bot.engine.runs_here import RunsHere, log_round_failed
from bot.lifecycle import SYSTEM, RunStatus
from bot.progress import Progress

__all__ = ["Upkeep"]

# Delivery keys (Store.first_delivery) are dropped a day after they were seen, at most once an
# hour: retries come within minutes, and the table must not grow forever.
_KEEP_DELIVERIES = timedelta(days=1)
_FORGET_EVERY = 3600.0


class Upkeep:
    """The heartbeat and what rides on it."""

    def __init__(
        self, deps: Dependencies, runs: RunsHere, progress: Progress, *, owner: OwnerId
    ) -> None:
        self._deps = deps
        self._store = deps.store
        self._runs = runs
        self._progress = progress
        self._owner = owner

    async def sweep(self) -> list[RunRecord]:
        """Mark runs whose executing process died as ``interrupted``; returns them."""
        now = self._deps.clock.now()
        stale = timedelta(seconds=self._deps.config.engine.stale_after)
        found = []
        for run in await self._store.running_elsewhere(str(self._owner)):
            if run.id in self._runs or not is_orphaned(
                run, me=self._owner, now=now, stale_after=stale
            ):
                continue
            interrupted = await self._store.transition(
                run.id,
                expected={RunStatus.RUNNING},
                to=RunStatus.INTERRUPTED,
                actor=SYSTEM,
                surface=SYSTEM,
                error=f"the process running it ({run.owner}) stopped",
            )
            if interrupted is not None:
                found.append(interrupted)
                await safely(self._progress.run_changed(interrupted))
        return found

    async def loop(self) -> None:
        """Every ``heartbeat_every``: heartbeat, sweep, chat resync, old delivery keys. A
        round that fails (the database away, a chat surface refusing) is logged and the
        next one tries again."""
        engine = self._deps.config.engine
        every = engine.heartbeat_every
        forgot_at: float | None = None
        loop = asyncio.get_running_loop()
        beat_at = loop.time()
        while True:
            stop_if_cancelled()  # a round's database call may have lost a cancellation
            # Real time, not the injectable clock: this paces the process, not a playbook.
            await asyncio.sleep(every)
            try:
                # A heartbeat slower than the time between two (or a second) is as good as
                # lost: a hung one must not hold up the check below.
                async with asyncio.timeout(max(every, 1.0)):
                    await self._store.heartbeat(str(self._owner))
                beat_at = loop.time()
            except Exception as exc:
                log_round_failed("liveness_check_failed", exc, check="heartbeat")
                if must_let_go(beat_at, loop.time(), stale_after=engine.stale_after):
                    self._runs.let_go()
                continue  # the rest would fail the same way
            try:
                await self.sweep()
                await self._progress.resync_cards()
                now = loop.time()
                if forgot_at is None or now - forgot_at >= _FORGET_EVERY:
                    forgot_at = now
                    await self._store.forget_deliveries(
                        seen_before=self._deps.clock.now() - _KEEP_DELIVERIES
                    )
            except Exception as exc:
                log_round_failed("liveness_check_failed", exc, check="sweep")
