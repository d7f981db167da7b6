"""Approval decisions: Approve / Deny for a whole run or a step gate, expiry and reminders.

Every outcome is a compare-and-set in the store, so approvals racing past the threshold
start the run once, and a deny, an expiry and an approval cannot all win.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.chat import ButtonAction, ButtonPress, MessageRef
from bot.db.records import RunRecord
from bot.executor import Executor
from bot.lifecycle import RunStatus, StepStatus
from bot.lookups import not_now
from bot.observer import safely
from bot.policy import APPROVE, DENY, approval_state, may_decide, reminder_due
from bot.progress import Progress
from bot.runtime import Dependencies
from playbooks.durations import format_duration
from playbooks.errors import ChatOpsError
from playbooks.model import ApprovalPolicy, Playbook
from playbooks.plan import Plan

__all__ = ["Approvals", "expiry_for"]


def expiry_for(playbook: Playbook, plan: Plan, now: datetime) -> datetime | None:
    """When a new run's approval window closes; None when it needs no approval."""
    if not plan.needs_approval or playbook.approval is None:
        return None
    return now + timedelta(seconds=playbook.approval.expires_after)


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

    async def ask(self, run: RunRecord, card: MessageRef, policy: ApprovalPolicy) -> None:
        """Post the approval request of a new run under its card."""
        if run.expires_at is not None:
            await safely(
                self.progress.approval_requested(
                    dataclasses.replace(run, card=card), None, policy, run.expires_at
                )
            )

    async def decide(self, press: ButtonPress, run: RunRecord) -> None:
        """Approve or Deny, for the whole run (pending) or for a step gate (running)."""
        step_id = press.button.step
        decision = APPROVE if press.button.action is ButtonAction.APPROVE else DENY
        policy = self._step_policy(run, step_id) if step_id else self._run_policy(run)
        if policy is None:
            raise ChatOpsError(f"Run #{run.id} has nothing to approve.")
        if not await self._waiting_for_decision(run, step_id):
            raise ChatOpsError(await not_now(self.store, run.id, decision))
        refusal = may_decide(press.actor, run, policy, self.deps.config)
        if refusal is not None:
            raise ChatOpsError(refusal)
        recorded = await self.store.record_decision(
            run_id=run.id,
            step_id=step_id or "",
            actor=press.actor,
            decision=decision,
            reason=press.reason,
        )
        if recorded is None:
            raise ChatOpsError(f"You have already decided on run #{run.id}; it counts once.")
        state = approval_state(policy, await self.store.decisions(run.id, step_id or ""))
        who = press.actor.display
        reason = f": {press.reason}" if press.reason else ""
        if step_id:
            self.executor.gates.wake(run.id)  # the waiting step re-reads the decisions
            verb = "denied" if decision == DENY else "approved"
            mark = "🚫" if decision == DENY else "👍"
            await self.progress.announce(
                run,
                f"{mark} {who} {verb} step `{step_id}` of run #{run.id}{reason}"
                f" ({state.describe(policy)}).",
            )
        elif decision == DENY:
            denied = await self.store.transition(
                run.id,
                expected={RunStatus.PENDING},
                to=RunStatus.DENIED,
                actor=press.actor.key,
                surface=press.actor.surface,
                detail={"reason": press.reason} if press.reason else None,
            )
            if denied is None:
                raise ChatOpsError(await not_now(self.store, run.id, "deny"))
            await self.progress.announce(denied, f"🚫 Denied by {who}{reason or '.'}")
        elif not state.approved:
            await self.progress.announce(run, f"👍 {who} approved ({state.describe(policy)}).")
        else:
            await self._start_approved(press, run, state.approved_by)

    async def check(self) -> None:
        """Expire approval waits whose window passed and remind approvers before that.

        Safe on every replica at once: expiry is a compare-and-set and each reminder is
        claimed once in the store.
        """
        now = self.deps.clock.now()
        for run in await self.store.list_runs(statuses={RunStatus.PENDING}, limit=10_000):
            if not run.needs_approval or run.expires_at is None:
                continue
            policy = self._run_policy(run)
            if now >= run.expires_at:
                await self._expire(run, policy)
            elif (
                policy is not None
                and reminder_due(
                    run.expires_at, now, policy.expires_after, run.reminded_at is not None
                )
                and await self.store.mark_reminded(run.id)
            ):
                await safely(
                    self.progress.approval_requested(
                        run, None, policy, run.expires_at, reminder=True
                    )
                )
        self.executor.gates.wake()  # step gates re-check their own windows

    async def _start_approved(
        self, press: ButtonPress, run: RunRecord, approved_by: tuple[str, ...]
    ) -> None:
        started = await self.store.transition(
            run.id,
            expected={RunStatus.PENDING},
            to=RunStatus.RUNNING,
            actor=press.actor.key,
            surface=press.actor.surface,
            owner=self.owner,
            detail={"approved_by": list(approved_by)},
        )
        if started is None:
            return  # another approval crossed the threshold first and started it
        self.progress.first_start(run.id)
        await self.progress.announce(
            started, f"✅ Approved by {', '.join(approved_by)}. Starting run #{run.id}."
        )
        self.start_run(started)

    async def _expire(self, run: RunRecord, policy: ApprovalPolicy | None) -> None:
        assert run.expires_at is not None
        expired = await self.store.transition(
            run.id,
            expected={RunStatus.PENDING},
            to=RunStatus.EXPIRED,
            actor="system",
            surface="system",
            detail={"expired_at": run.expires_at.isoformat()},
        )
        if expired is not None:
            window = format_duration(policy.expires_after) if policy else "its window"
            await self.progress.announce(
                expired, f"⌛ Run #{run.id} expired: it was not approved within {window}."
            )

    async def _waiting_for_decision(self, run: RunRecord, step_id: str | None) -> bool:
        if step_id is None:
            return run.status is RunStatus.PENDING and run.needs_approval
        if run.status is not RunStatus.RUNNING:
            return False
        return any(
            s.step_id == step_id and s.status is StepStatus.WAITING
            for s in await self.store.steps(run.id)
        )

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
