"""Keeping chat up to date with runs: the card edited in place, progress in its thread.

This is the executor's :class:`~bot.observer.RunObserver`. Chat being down never fails or
stalls a run: a post that fails is logged and dropped, and a card whose edit failed is
remembered and brought up to date by :meth:`Progress.resync_cards` once chat answers again.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import structlog

from bot.cards import STATUS_EMOJI, STEP_MARK, format_params, render_run_card
from bot.chat import Button, ButtonAction, Chat, Place
from bot.db.records import ApprovalRecord, RunRecord, StepRecord
from bot.lifecycle import TERMINAL, RunStatus
from bot.lookups import require_run
from bot.observer import safely
from bot.policy import approver_identities
from bot.runtime import Dependencies
from playbooks.durations import format_duration
from playbooks.errors import ActionError, ChatOpsError
from playbooks.model import ApprovalPolicy, Playbook
from playbooks.plan import Plan, build_plan

__all__ = ["Progress", "outcome_message"]

log = structlog.get_logger(__name__)


class Progress:
    def __init__(self, deps: Dependencies, chats: dict[str, Chat], *, owner: str) -> None:
        self.deps = deps
        self.owner = owner
        self.store = deps.store
        self.catalog = deps.catalog
        self.chats = chats
        self._plans: dict[int, Plan] = {}
        self._stale_cards: set[int] = set()
        self._dirty: set[int] = set()
        # Steps of the runs executing in this process, as the executor reports them: a card
        # edit then reads only the run's row. Runs execute on one replica at a time, so for
        # those runs nothing else writes steps.
        self._steps: dict[int, dict[tuple[str, str], StepRecord]] = {}
        self._runs: dict[int, RunRecord] = {}
        self._refreshers: dict[int, asyncio.Task[None]] = {}

    # -- RunObserver ----------------------------------------------------------------------

    async def run_changed(self, run: RunRecord) -> None:
        if run.status in TERMINAL:
            self.deps.metrics.runs_finished.labels(run.playbook, run.status.value).inc()
        if run.parent_run_id is not None:
            return  # the parent's step reports how its sub-playbook ended
        await self.refresh_card(run, current=True)
        message = outcome_message(run)
        if message:
            buttons = None
            if run.status is RunStatus.INTERRUPTED:
                buttons = [
                    Button(ButtonAction.RESUME, run.id, style="primary"),
                    Button(ButtonAction.ABORT, run.id, style="danger"),
                ]
            await self.thread(run, message, buttons)
        if run.status in TERMINAL:
            self._plans.pop(run.id, None)

    def step_started(self, run: RunRecord, step: StepRecord) -> None:
        self._remember_step(step)

    async def step_finished(self, run: RunRecord, step: StepRecord) -> None:
        self._remember_step(step)
        if step.duration_ms is not None:
            self.deps.metrics.steps.labels(step.action, step.status.value).observe(
                step.duration_ms / 1000
            )
        root = await self.root(run)
        prefix = f"↳ `{run.playbook}` " if root.id != run.id else ""
        phase = "rollback " if step.phase == "rollback" else ""
        took = f" ({step.duration_ms / 1000:.1f}s)" if step.duration_ms is not None else ""
        detail = step.error if step.error else step.summary
        text = f"{STEP_MARK[step.status]} {prefix}{phase}`{step.step_id}` {step.status.value}{took}"
        await self.thread(root, f"{text}: {detail}" if detail else text)
        if root.id == run.id:
            self.request_refresh(run.id)

    async def step_retrying(
        self, run: RunRecord, step_id: str, attempt: int, of: int, reason: str
    ) -> None:
        root = await self.root(run)
        await self.thread(root, f"🔁 `{step_id}` failed ({reason}); attempt {attempt} of {of}…")

    async def approval_requested(
        self,
        run: RunRecord,
        step_id: str | None,
        policy: ApprovalPolicy,
        expires_at: datetime,
        *,
        reminder: bool = False,
    ) -> None:
        """Ask the approvers in the run's thread, mentioning them so they are notified."""
        root = await self.root(run)
        chat = self.chat(root.surface)
        identities = approver_identities(policy, root.surface, self.deps.config)
        roles = ", ".join(policy.approvers) or "anyone allowed"
        who = " ".join(chat.mention(i) for i in identities) if identities else f"({roles})"
        what = f"step `{step_id}` of run #{run.id}" if step_id else f"run #{run.id}"
        lead = "⏰ Reminder: still waiting for" if reminder else "🔐 Approval needed for"
        text = (
            f"{lead} {what} (`{run.playbook}`, {format_params(run.params)}), requested by "
            f"{run.requester_display}. {who}: {policy.min_approvals} approval"
            f"{'s' if policy.min_approvals > 1 else ''} from {roles} needed; "
            f"expires {expires_at:%H:%M} UTC."
        )
        if not identities and policy.approvers:
            text += f" ⚠️ Nobody on {root.surface} holds {roles}: check `roles` in the config."
        risky = run.playbook in self.catalog and self.catalog.get(run.playbook).risk == "high"
        confirm = f"Approve {what} (`{run.playbook}`, high risk)?" if risky else None
        buttons = [
            Button(ButtonAction.APPROVE, run.id, step=step_id, style="primary", confirm=confirm),
            Button(ButtonAction.DENY, run.id, step=step_id, style="danger"),
        ]
        if step_id:
            await safely(self.refresh_card(root))  # shows the pause before the question
        await self.thread(root, text, buttons)

    async def notify(self, run: RunRecord, text: str, channel: str | None) -> str:
        root = await self.root(run)
        if channel is None:
            await self.thread(root, f"📣 {text}", strict=True)
            return "the run's thread"
        ids = self.deps.config.channels.get(channel)
        target = getattr(ids, root.surface, None) if ids else None
        if target is None:
            raise ActionError(f"no channel `{channel}` configured for {root.surface}")
        await self.chat(root.surface).post_message(
            Place(root.surface, str(target), name=channel), text
        )
        return f"#{channel}"

    # -- cards and threads ----------------------------------------------------------------

    def plan(self, playbook: Playbook, params: dict[str, object]) -> Plan:
        return build_plan(
            playbook,
            params,
            self.deps.registry,
            {p.name: p for p in self.catalog},
            self.deps.environ,
        )

    def first_start(self, run_id: int) -> None:
        """A run just started here for the first time: it has no steps yet, none to read."""
        self._steps[run_id] = {}

    def remember_plan(self, run_id: int, plan: Plan) -> None:
        """Plans are pure but not free: keep each active run's, so progress re-renders fast."""
        self._plans[run_id] = plan

    def request_refresh(self, run_id: int) -> None:
        """Edit the card soon; requests that arrive while an edit is under way coalesce into
        one more edit, so a burst of quick steps costs a few edits, not one each."""
        self._dirty.add(run_id)
        if run_id not in self._refreshers:
            task = asyncio.create_task(self._refresh_while_dirty(run_id))
            self._refreshers[run_id] = task

    async def settle(self) -> None:
        """Wait for every requested card edit to be made (or to fail and be remembered)."""
        while self._refreshers:
            await asyncio.gather(*self._refreshers.values(), return_exceptions=True)

    async def _refresh_while_dirty(self, run_id: int) -> None:
        try:
            while run_id in self._dirty:
                self._dirty.discard(run_id)
                state = await self._card_state(run_id)
                if state is not None:
                    await safely(self._edit_card(*state))
        finally:
            self._refreshers.pop(run_id, None)

    async def refresh_card(self, run: RunRecord, *, current: bool = False) -> None:
        """Edit the run's card now to show where it stands: read from the store, or with
        ``current``, ``run`` as a transition just returned it."""
        state = await self._card_state(run.id, run if current else None)
        if state is not None:
            await self._edit_card(*state)

    async def _card_state(
        self, run_id: int, current: RunRecord | None = None
    ) -> tuple[RunRecord, list[StepRecord], list[ApprovalRecord]] | None:
        """What the card shows: the run's row, its steps and (if it has any) approvals.

        For a run executing here, the row last seen stands in for a read: only this process
        changes it while it runs, and a change made elsewhere (a cancel) reaches :meth:`forget`
        before the run's next report.
        """
        run = current or self._runs.get(run_id) or await self.store.get_run(run_id)
        if run is None:
            return None
        executing_here = run.status is RunStatus.RUNNING and run.owner == self.owner
        if not executing_here:
            self.forget(run_id)  # ended, or moved to another replica
        else:
            self._runs[run_id] = run
        cached = self._steps.get(run_id)
        if cached is None:
            loaded = await self.store.steps(run_id)
            if executing_here:
                self._steps[run_id] = {(s.phase, s.step_id): s for s in loaded}
            steps = loaded
        else:
            steps = sorted(cached.values(), key=lambda s: (s.phase, s.position))
        playbook = self.catalog.get(run.playbook) if run.playbook in self.catalog else None
        decisions = await self.store.decisions(run_id) if _asks_approval(playbook) else []
        return run, steps, decisions

    def forget(self, run_id: int) -> None:
        """Drop what is cached of a run: its next card edit reads the store."""
        self._steps.pop(run_id, None)
        self._runs.pop(run_id, None)

    def _remember_step(self, step: StepRecord) -> None:
        steps = self._steps.get(step.run_id)
        if steps is not None:
            steps[(step.phase, step.step_id)] = step

    async def _edit_card(
        self, current: RunRecord, steps: list[StepRecord], decisions: list[ApprovalRecord]
    ) -> None:
        if current.card is None:
            return
        plan = self._plans.get(current.id)
        if plan is None:
            plan = self.plan(self.catalog.get(current.playbook), current.params)
            if current.status not in TERMINAL:
                self._plans[current.id] = plan
        card = render_run_card(current, plan, steps, decisions)
        try:
            await self.chat(current.surface).update_card(current.card, card)
        except Exception:
            self._stale_cards.add(current.id)
            raise
        self._stale_cards.discard(current.id)

    async def resync_cards(self) -> None:
        """Retry the card edits that failed while chat was unreachable."""
        for run_id in list(self._stale_cards):
            run = await self.store.get_run(run_id)
            if run is None:
                self._stale_cards.discard(run_id)
                continue
            await safely(self.refresh_card(run))

    async def announce(self, run: RunRecord, text: str) -> None:
        """Edit the card and say ``text`` in its thread; ``run`` is as the caller just read or
        changed it."""
        await safely(self.refresh_card(run, current=True))
        await safely(self.thread(run, text))

    async def thread(
        self,
        run: RunRecord,
        text: str,
        buttons: list[Button] | None = None,
        *,
        strict: bool = False,
    ) -> None:
        card = run.card or (await require_run(self.store, run.id)).card
        if card is None:
            if strict:
                raise ActionError("the run has no card to reply under")
            return
        try:
            await self.chat(card.surface).post_in_thread(card, text, buttons)
        except Exception:
            if strict:
                raise
            log.warning("thread_post_failed", run=run.id, exc_info=True)

    async def root(self, run: RunRecord) -> RunRecord:
        """The top-level run whose card and thread a sub-playbook's progress goes to."""
        while run.parent_run_id is not None:
            run = await require_run(self.store, run.parent_run_id)
        return run

    def chat(self, surface: str) -> Chat:
        chat = self.chats.get(surface)
        if chat is None:
            raise ChatOpsError(f"the {surface} surface is not connected in this process")
        return chat


def _asks_approval(playbook: Playbook | None) -> bool:
    return (
        playbook is None
        or playbook.approval is not None
        or any(s.approval is not None for s in playbook.steps)
    )


def outcome_message(run: RunRecord) -> str | None:
    """The thread's line when a run ends (or is interrupted)."""
    took = ""
    if run.started_at and run.finished_at:
        took = f" in {format_duration((run.finished_at - run.started_at).total_seconds())}"
    emoji = STATUS_EMOJI[run.status]
    match run.status:
        case RunStatus.SUCCEEDED:
            return f"{emoji} Run #{run.id} succeeded{took}."
        case RunStatus.FAILED:
            return f"{emoji} Run #{run.id} failed{took}: {run.error}"
        case RunStatus.ROLLED_BACK:
            return f"{emoji} Run #{run.id} failed and was rolled back{took}: {run.error}"
        case RunStatus.INTERRUPTED:
            return (
                f"{emoji} Run #{run.id} was interrupted: {run.error}. "
                "Resume continues after the last step that succeeded; Abort cancels it."
            )
    return None
