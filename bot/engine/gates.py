"""Step-level approval gates: a run pauses before a step until people decide.

The decisions live in the store, so a gate sees those made on any replica (at its next poll)
and those made before a restart (a resumed run does not ask twice). A decision made in this
process wakes the gate at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.db.records import ApprovalRecord, RunRecord, StepRecord
from bot.db.store import Store
from bot.engine.observer import RunObserver, safely
from bot.lifecycle import StepStatus
from bot.policy import approval_state, reminder_due
from playbooks.durations import format_duration
from playbooks.model import ApprovalPolicy, Step

__all__ = ["ApprovalGates"]


class ApprovalGates:
    def __init__(
        self, *, store: Store, clock: Clock, observer: RunObserver, poll_every: float
    ) -> None:
        self.store = store
        self.clock = clock
        self.observer = observer
        self.poll_every = poll_every
        self._waiting: dict[int, asyncio.Event] = {}

    def wake(self, run_id: int | None = None) -> None:
        """A decision was recorded (or time moved on): gates re-check now, not at the next poll."""
        for gated_run, event in self._waiting.items():
            if run_id is None or gated_run == run_id:
                event.set()

    async def wait(
        self, run: RunRecord, step: Step, policy: ApprovalPolicy, position: int
    ) -> str | None:
        """Pause at ``step``'s gate; None once approved, else why the step may not run.

        Only decisions made before the gate's ``expires_at`` count. A resumed run keeps the
        expiry it was first given, and does not ask again once its gate is settled.
        """
        existing = [
            s for s in await self.store.steps(run.id) if s.step_id == step.id and s.phase == "main"
        ]
        stored = existing[0].expires_at if existing else None
        if stored is not None:
            verdict = await self._verdict(run, step, policy, stored)
            if verdict is not None:
                return verdict.refusal  # its requests were closed when it was settled
        expires_at = stored or self.clock.now() + timedelta(seconds=policy.expires_after)
        waiting_since = await self.store.wait_at_gate(
            run_id=run.id,
            step_id=step.id,
            position=position,
            action=step.action,
            expires_at=expires_at,
            resumed=stored is not None,
        )
        self.observer.step_started(
            run,
            StepRecord.begun(
                run_id=run.id,
                step_id=step.id,
                phase="main",
                position=position,
                action=step.action,
                status=StepStatus.WAITING,
                started_at=waiting_since,
                expires_at=expires_at,
            ),
        )
        await safely(self.observer.approval_requested(run, step.id, policy, expires_at))
        event = self._waiting.setdefault(run.id, asyncio.Event())
        try:
            while True:
                verdict = await self._verdict(run, step, policy, expires_at)
                if verdict is not None:
                    await safely(
                        self.observer.approval_closed(
                            run, verdict.outcome, step.id, expired=verdict.expired
                        )
                    )
                    return verdict.refusal
                now = self.clock.now()
                if reminder_due(
                    expires_at, now, policy.expires_after, already_reminded=False
                ) and await self.store.mark_reminded(run.id, step.id):
                    await safely(
                        self.observer.approval_requested(
                            run, step.id, policy, expires_at, reminder=True
                        )
                    )
                event.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), self.poll_every)
        finally:
            self._waiting.pop(run.id, None)

    async def _verdict(
        self, run: RunRecord, step: Step, policy: ApprovalPolicy, expires_at: datetime
    ) -> _Verdict | None:
        """How the gate is settled, or None while it still waits.

        Once the window has passed, the wait is ended in the store first (from then on every
        decision is refused) and the decisions are read in the same transaction, so one that
        was recorded while the gate looked is honoured: an expiry never overrides a decision
        that counted.
        """
        now = self.clock.now()
        decisions = await self.store.decisions(run.id, step.id)
        verdict = _settle(policy, decisions, expires_at)
        if verdict is not None or now < expires_at:
            return verdict
        decisions = await self.store.end_gate_wait(run.id, step.id)
        verdict = _settle(policy, decisions, expires_at)
        if verdict is not None:
            return verdict
        window = format_duration(policy.expires_after)
        return _Verdict(
            f"approval expired after {window}",
            f"⌛ Expired: not decided within {window}.",
            expired=True,
        )


@dataclass(frozen=True)
class _Verdict:
    """A settled gate: why the step may not run (None: approved), and what its requests say."""

    refusal: str | None
    outcome: str
    expired: bool = False  # nobody decided within the window


def _settle(
    policy: ApprovalPolicy, decisions: list[ApprovalRecord], expires_at: datetime
) -> _Verdict | None:
    state = approval_state(policy, [d for d in decisions if d.decided_at < expires_at])
    if state.denied:
        why = f": {state.reasons[0]}" if state.reasons else "."
        return _Verdict(
            f"approval {state.describe(policy)}", f"🚫 Denied by {', '.join(state.denied_by)}{why}"
        )
    if state.approved:
        return _Verdict(None, f"✅ Approved by {', '.join(state.approved_by)}.")
    return None
