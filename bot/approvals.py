"""Approval decisions: Approve / Deny for a whole run or a step gate, expiry and reminders.

Every outcome is a compare-and-set in the store, so approvals racing past the threshold
start the run once, and a deny, an expiry and an approval cannot all win.

A pending run has a deadline: its approval window, or (a card that needs no approval) the
time by which someone must press Run (``engine.run_card_expires_after``). Each reminder and
expiry happens at its own time: :meth:`Approvals.watch` sleeps until the next one is due
(woken when a new deadline is set here), and looks again at least every heartbeat for
deadlines other replicas set.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from bot.cards import format_expiry
from bot.chat import ButtonAction, ButtonPress, MessageRef
from bot.db.records import RunRecord, StepRecord
from bot.dependencies import Dependencies
from bot.engine.cancellation import stop_if_cancelled
from bot.engine.executor import Executor
from bot.engine.observer import safely
from bot.lifecycle import SYSTEM, RunStatus, StepStatus
from bot.policy import APPROVE, DENY, approval_state, may_decide, reminder_due
from bot.progress import Progress
from bot.run_lookup import not_now, require_run
from playbooks.durations import format_duration
from playbooks.errors import ChatOpsError
from playbooks.model import ApprovalPolicy, Playbook
from playbooks.plan import Plan

__all__ = ["MAX_REMINDER_LEAD", "Approvals", "expiry_for"]

log = structlog.get_logger(__name__)

MAX_REMINDER_LEAD = 300.0
"""Seconds before its expiry that a reminder goes out, at the most (policy.reminder_due)."""


def expiry_for(
    playbook: Playbook, plan: Plan, now: datetime, *, run_card_window: float | None
) -> datetime | None:
    """When a new run's window closes: its approval window, or (it needs no approval) the
    time by which someone must press Run; None when cards wait for good."""
    if plan.needs_approval and playbook.approval is not None:
        return now + timedelta(seconds=playbook.approval.expires_after)
    if run_card_window is None:
        return None
    return now + timedelta(seconds=run_card_window)


class Approvals:
    def __init__(
        self,
        deps: Dependencies,
        progress: Progress,
        executor: Executor,
        *,
        owner: str,
        start_run: Callable[[RunRecord], None],
    ) -> None:
        self.deps = deps
        self.store = deps.store
        self.progress = progress
        self.executor = executor
        self.owner = owner
        self.start_run = start_run
        self._deadline_set = asyncio.Event()
        self._checking = asyncio.Lock()  # one check at a time: each sees the last one's end
        self._next_look: datetime | None = None  # when watch() looks next, by itself

    def deadline_set(self, run: RunRecord) -> None:
        """A new pending run's window was set here: :meth:`watch` looks again now if the
        run's first moment (its reminder, else its expiry) comes before its next look. A
        burst of cards a day from expiring wakes nothing."""
        if run.expires_at is None:
            return
        first = run.expires_at
        policy = self._run_policy(run) if run.needs_approval else None
        if policy is not None:
            lead = min(policy.expires_after / 5, MAX_REMINDER_LEAD)
            first = run.expires_at - timedelta(seconds=lead)
        if self._next_look is None or first < self._next_look:
            self._deadline_set.set()

    async def watch(self, every: float) -> None:
        """Expire and remind each pending run at its own time, for as long as the process
        runs: sleep until the next deadline this replica knows of (at most ``every``
        seconds, to find those other replicas set), or until a new one is set here."""
        while True:
            self._deadline_set.clear()
            try:
                delay = min(await self.check(horizon=every), every)
                self._next_look = self.deps.clock.now() + timedelta(seconds=delay)
            except Exception:
                log.warning("approval_check_failed", exc_info=True)
                delay = every
                self._next_look = None  # not known: any new deadline looks at once
            stop_if_cancelled()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._deadline_set.wait(), max(delay, 0.0))

    async def ask(self, run: RunRecord, card: MessageRef, policy: ApprovalPolicy) -> None:
        """Post the approval request of a new run under its card."""
        if run.expires_at is not None:
            await safely(
                self.progress.approval_requested(
                    dataclasses.replace(run, card=card), None, policy, run.expires_at
                )
            )

    async def decide(self, press: ButtonPress, run: RunRecord) -> None:
        """Approve or Deny, for the whole run (pending) or for a step gate (running).

        Only decisions made inside the window count: one made at or after the run's
        ``expires_at`` expires the run instead, and one on a step gate whose window has
        passed is refused (the gate fails the step at its next look).
        """
        step_id = press.button.step or ""
        decision = APPROVE if press.button.action is ButtonAction.APPROVE else DENY
        policy = self._step_policy(run, step_id) if step_id else self._run_policy(run)
        if policy is None:
            raise ChatOpsError(f"Run #{run.id} has nothing to approve.")
        try:
            await self._require_open(run, step_id, policy, decision)
        except ChatOpsError:
            # A second click after the wait was settled: say what this person did, not how
            # the wait ended.
            earlier = await self.store.decisions(run.id, step_id)
            mine = next((d for d in earlier if d.actor == press.actor.key), None)
            if mine is not None:
                raise ChatOpsError(_already_decided(mine.decision, run.id, step_id)) from None
            raise
        refusal = may_decide(press.actor, run, policy, self.deps.config)
        if refusal is not None:
            raise ChatOpsError(refusal)
        outcome = await self.store.record_decision(
            run_id=run.id,
            step_id=step_id,
            actor=press.actor,
            decision=decision,
            reason=press.reason,
            needed=policy.min_approvals,
            owner=self.owner,
        )
        if outcome.already_decided:
            mine = next(d for d in outcome.decisions if d.actor == press.actor.key)
            raise ChatOpsError(_already_decided(mine.decision, run.id, step_id))
        if outcome.approval is None:
            # Something closed the wait since we looked: the window, a deny, the threshold.
            fresh = await require_run(self.store, run.id)
            await self._require_open(fresh, step_id, policy, decision)
            raise ChatOpsError(await self._closed(fresh, step_id, decision))
        await self._count_decision(run, step_id, policy, outcome.approval.decided_at, decision)
        state = approval_state(policy, outcome.decisions)
        who = press.actor.display
        reason = f": {press.reason}" if press.reason else ""
        if step_id:
            self.executor.gates.wake(run.id)  # the waiting step re-reads the decisions
            if decision == DENY:  # the deny settles it: its reason is all there is to say
                said = f"🚫 {who} denied step `{step_id}` of run #{run.id}{reason or ''}."
            else:
                said = (
                    f"👍 {who} approved step `{step_id}` of run #{run.id}"
                    f" ({state.describe(policy)})."
                )
            await self.progress.announce(run, said)
        elif outcome.run is None:
            await self.progress.announce(run, f"👍 {who} approved ({state.describe(policy)}).")
        elif outcome.run.status is RunStatus.DENIED:
            denied = f"🚫 Denied by {who}{reason or '.'}"
            await self.progress.announce(outcome.run, denied)
            await self.progress.approval_closed(outcome.run, denied, step_id="")
        else:
            approved_by = ", ".join(state.approved_by)
            self.progress.first_start(run.id)
            await self.progress.announce(
                outcome.run, f"✅ Approved by {approved_by}. Starting run #{run.id}."
            )
            await self.progress.approval_closed(
                outcome.run, f"✅ Approved by {approved_by}.", step_id=""
            )
            self.start_run(outcome.run)

    async def check(self, *, horizon: float = 0.0) -> float:
        """Expire the pending runs whose window passed and remind approvers before that;
        returns the seconds until the next such moment among the deadlines due within
        ``horizon`` seconds (``horizon`` when there is none).

        Safe on every replica at once: expiry is a compare-and-set and each reminder is
        claimed once in the store.
        """
        async with self._checking:
            now = self.deps.clock.now()
            upto = now + timedelta(seconds=horizon + MAX_REMINDER_LEAD)
            next_at: datetime | None = None
            for run in await self.store.pending_deadlines(before=upto):
                assert run.expires_at is not None
                policy = self._run_policy(run) if run.needs_approval else None
                if now >= run.expires_at:
                    await self.expire(run, policy)
                    continue
                at = run.expires_at
                if policy is not None and run.reminded_at is None:
                    if reminder_due(run.expires_at, now, policy.expires_after, False):
                        if await self.store.mark_reminded(run.id):
                            await safely(
                                self.progress.approval_requested(
                                    run, None, policy, run.expires_at, reminder=True
                                )
                            )
                    else:
                        lead = min(policy.expires_after / 5, MAX_REMINDER_LEAD)
                        at = run.expires_at - timedelta(seconds=lead)
                next_at = at if next_at is None else min(next_at, at)
            self.executor.gates.wake()  # step gates re-check their own windows
        if next_at is None:
            return horizon
        return max((next_at - now).total_seconds(), 0.0)

    async def expire(self, run: RunRecord, policy: ApprovalPolicy | None = None) -> None:
        """Move a pending run whose window passed to ``expired``, and say so (once)."""
        assert run.expires_at is not None
        expired = await self.store.transition(
            run.id,
            expected={RunStatus.PENDING},
            to=RunStatus.EXPIRED,
            actor=SYSTEM,
            surface=SYSTEM,
            detail={"expired_at": run.expires_at.isoformat()},
        )
        if expired is None:
            return
        if not run.needs_approval:
            window = format_duration((run.expires_at - run.created_at).total_seconds())
            await self.progress.announce(
                expired, f"⌛ Run #{run.id} expired: nobody pressed Run within {window}."
            )
            return
        self.deps.metrics.approvals_expired.labels(run.playbook, "run").inc()
        window = format_duration(policy.expires_after) if policy else "its window"
        await self.progress.announce(
            expired, f"⌛ Run #{run.id} expired: it was not approved within {window}."
        )
        await self.progress.approval_closed(
            expired, f"⌛ Expired: not approved within {window}.", step_id=""
        )

    async def _require_open(
        self, run: RunRecord, step_id: str, policy: ApprovalPolicy, decision: str
    ) -> None:
        """Refuse a decision that comes too late; a run whose window passed expires now."""
        now = self.deps.clock.now()
        if not step_id:
            if run.status is RunStatus.PENDING and run.expires_at and now >= run.expires_at:
                await self.expire(run, policy)
                raise ChatOpsError(await not_now(self.store, run.id, decision))
            if run.status is not RunStatus.PENDING or not run.needs_approval:
                raise ChatOpsError(await not_now(self.store, run.id, decision))
            return
        if run.status is not RunStatus.RUNNING:
            raise ChatOpsError(await not_now(self.store, run.id, decision))
        gate = await self._gate(run, step_id)
        if gate is not None and gate.expires_at is not None and now >= gate.expires_at:
            self.executor.gates.wake(run.id)  # the gate fails the step now, not at its poll
            raise ChatOpsError(
                f"Can't {decision} step `{step_id}` of run #{run.id}: its approval expired at "
                f"{format_expiry(gate.expires_at, policy.expires_after)}."
            )
        if gate is None:
            raise ChatOpsError(await self._closed(run, step_id, decision))

    async def _closed(self, run: RunRecord, step_id: str, decision: str) -> str:
        """Why nothing waits for this decision any more."""
        if step_id and run.status is RunStatus.RUNNING:
            return (
                f"Can't {decision} step `{step_id}` of run #{run.id}: it no longer waits for one."
            )
        return await not_now(self.store, run.id, decision)

    async def _gate(self, run: RunRecord, step_id: str) -> StepRecord | None:
        """The step's record while it waits at its gate; None when it does not."""
        for step in await self.store.steps(run.id):
            if step.step_id == step_id and step.phase == "main":
                return step if step.status is StepStatus.WAITING else None
        return None

    async def _count_decision(
        self,
        run: RunRecord,
        step_id: str,
        policy: ApprovalPolicy,
        decided_at: datetime,
        decision: str,
    ) -> None:
        """Metrics: the decision, and how long after its request it came."""
        metrics = self.deps.metrics
        metrics.approval_decisions.labels(run.playbook, decision).inc()
        expires_at = run.expires_at
        if step_id:
            gate = await self._gate(run, step_id)
            expires_at = gate.expires_at if gate is not None else None
        if expires_at is not None:
            asked_at = expires_at - timedelta(seconds=policy.expires_after)
            waited = max((decided_at - asked_at).total_seconds(), 0.0)
            metrics.approval_wait.labels(decision).observe(waited)

    def _run_policy(self, run: RunRecord) -> ApprovalPolicy | None:
        if run.playbook not in self.deps.catalog:
            return None
        return self.deps.catalog.get(run.playbook).approval

    def _step_policy(self, run: RunRecord, step_id: str) -> ApprovalPolicy | None:
        if run.playbook not in self.deps.catalog:
            return None
        for step in self.deps.catalog.get(run.playbook).steps:
            if step.id == step_id:
                return step.approval
        return None


def _already_decided(decision: str, run_id: int, step_id: str) -> str:
    what = f"step `{step_id}` of run #{run_id}" if step_id else f"run #{run_id}"
    done = "approved" if decision == APPROVE else "denied"
    return f"You have already {done} {what}; it counts once."
