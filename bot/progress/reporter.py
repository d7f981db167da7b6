"""Keeping chat up to date with runs: the executor's :class:`~bot.engine.observer.RunObserver`.

What a run says goes into its outbox (:mod:`bot.progress.outbox`), worded by
:mod:`bot.progress.texts`; its card is rendered and edited by the :class:`CardKeeper`.
Chat never fails or stalls a run: a run never waits for its outbox, and commands wait only
for the output they queued (so their answers land in order) when the run is not executing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

import structlog

from bot.chat import Button, ButtonAction, Chat, MessageRef, Place
from bot.db.records import RunRecord, StepRecord
from bot.dependencies import Dependencies
from bot.engine.observer import safely
from bot.lifecycle import SYSTEM, TERMINAL, RunStatus
from bot.plans import Plans
from bot.policy import approver_identities, role_identities
from bot.progress.card_keeper import CardKeeper, asks_approval
from bot.progress.outbox import CHAT_TIMEOUT, Outbox
from bot.progress.texts import (
    INTERRUPTED_WAIT,
    ROLLING_BACK,
    approval_request,
    failure_reason,
    outcome_message,
    overdue_line,
    retry_line,
    step_line,
)
from bot.run_lookup import require_run
from playbooks.errors import ActionError, ChatOpsError
from playbooks.model import ApprovalPolicy

__all__ = ["CHAT_TIMEOUT", "Progress"]

log = structlog.get_logger(__name__)

# Statuses another actor gives a run; steps it left open are closed by whoever set it.
_STOPPED = frozenset({RunStatus.CANCELLED, RunStatus.INTERRUPTED})


class Progress:
    """Cards and threads of every run this process reports on."""

    def __init__(
        self, deps: Dependencies, chats: dict[str, Chat], plans: Plans, *, owner: str
    ) -> None:
        self.deps = deps
        self.owner = owner
        self.store = deps.store
        self.catalog = deps.catalog
        self.chats = chats
        self.cards = CardKeeper(
            store=deps.store,
            catalog=deps.catalog,
            plans=plans,
            chat=self.chat,
            owner=owner,
            timeout=lambda: self.chat_timeout,
        )
        self.outbox = Outbox(self.chat, self.cards.edit, timeout=CHAT_TIMEOUT)

    @property
    def chat_timeout(self) -> float:
        """Seconds one chat call may take before it is given up (and logged)."""
        return self.outbox.timeout

    @chat_timeout.setter
    def chat_timeout(self, seconds: float) -> None:
        self.outbox.timeout = seconds

    # -- RunObserver ----------------------------------------------------------------------

    async def run_changed(self, run: RunRecord) -> None:
        if run.status in TERMINAL:
            self.deps.metrics.runs_finished.labels(run.playbook, run.status.value).inc()
        if run.parent_run_id is not None:
            return  # the parent's step reports how its sub-playbook ended
        await self._close_steps_left_open(run)
        self.request_refresh(run.id, run)
        message = outcome_message(run)
        if message:
            buttons = None
            if run.status is RunStatus.INTERRUPTED:
                buttons = [
                    Button(ButtonAction.RESUME, run.id, style="primary"),
                    Button(ButtonAction.ABORT, run.id, style="danger"),
                ]
            await self._queue_post(run, message, buttons)
        if run.status is RunStatus.INTERRUPTED:
            await self.approval_closed(run, INTERRUPTED_WAIT, None)

    def step_started(self, run: RunRecord, step: StepRecord) -> None:
        self.cards.remember_step(step)
        if run.id in self.cards.owed:
            self.request_refresh(run.id)

    async def step_finished(self, run: RunRecord, step: StepRecord) -> None:
        self.cards.remember_step(step)
        if step.duration_ms is not None:
            self.deps.metrics.steps.labels(step.action, step.status.value).observe(
                step.duration_ms / 1000
            )
        root = await self.root(run)
        await self._queue_post(root, step_line(run, root, step))
        if root.id != run.id:
            return
        if self.cards.executing_here(run.id):
            self.cards.owed.add(run.id)  # still executing here: the next report edits it
        else:
            self.request_refresh(run.id)

    async def step_retrying(
        self, run: RunRecord, step_id: str, attempt: int, of: int, reason: str
    ) -> None:
        await self._queue_post(await self.root(run), retry_line(step_id, attempt, of, reason))

    async def rollback_started(self, run: RunRecord) -> None:
        await self._queue_post(await self.root(run), ROLLING_BACK)

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
        if not reminder:
            wait = "step" if step_id else "run"
            self.deps.metrics.approvals_requested.labels(run.playbook, wait).inc()
        root = await self.root(run)
        chat = self.chat(root.surface)
        holders = approver_identities(policy, root.surface, self.deps.config)
        identities = holders
        if not policy.allow_self_approval:
            # Mention only those who can decide: not the requester (a group they are in
            # still notifies them; Slack cannot mention a group but one member).
            requester = root.requested_by.removeprefix(f"{root.surface}:")
            identities = [i for i in holders if i != requester]
        text = approval_request(
            run,
            step_id,
            policy,
            expires_at,
            mentions=[chat.mention(i) for i in identities],
            surface=root.surface,
            nobody_holds=not holders,
            reminder=reminder,
        )
        playbook = self.catalog.find(run.playbook)
        what = f"step `{step_id}` of run #{run.id}" if step_id else f"run #{run.id}"
        risky = playbook is not None and playbook.risk == "high"
        confirm = f"Approve {what} (`{run.playbook}`, high risk)?" if risky else None
        buttons = [
            Button(ButtonAction.APPROVE, run.id, step=step_id, style="primary", confirm=confirm),
            Button(ButtonAction.DENY, run.id, step=step_id, style="danger"),
        ]
        if step_id:
            await safely(self.refresh_card(root))  # shows the pause before the question

        async def posted(ref: MessageRef) -> None:
            await self.store.record_approval_message(
                run_id=run.id, step_id=step_id or "", ref=ref, text=text
            )

        await self.thread(root, text, buttons, posted=posted)

    async def approval_closed(
        self, run: RunRecord, outcome: str, step_id: str | None, *, expired: bool = False
    ) -> None:
        """A wait for decisions is over: every request posted for it (the first, reminders)
        is edited to end with ``outcome``, its buttons gone. ``step_id`` names the wait (a
        step gate, or ``""`` for the run's own); None, every wait of the run (it stopped)."""
        if expired and step_id:
            self.deps.metrics.approvals_expired.labels(run.playbook, "step").inc()
        playbook = self.catalog.find(run.playbook)
        if playbook is not None and not asks_approval(playbook):
            return  # nothing was ever asked: spare the store a write
        root = await self.root(run)
        outcome = self.deps.redactor(outcome)
        for ref, said in await self.store.close_approval_messages(run.id, step_id):
            self.outbox.edit(root.id, ref, f"{said}\n{outcome}")
        await self._wait_unless_running(root)

    async def notify(self, run: RunRecord, text: str, channel: str | None) -> str:
        """A notify step: post ``text`` (redacted) and wait until chat has it, since posting
        is the step's whole job; ActionError when chat refuses or does not answer."""
        root = await self.root(run)
        text = self.deps.redactor(text)
        if channel is None:
            if root.card is None:
                raise ActionError("the run has no card to reply under")
            delivered = asyncio.get_running_loop().create_future()
            await self._queue_post(root, f"📣 {text}", delivered=delivered)
            try:
                await delivered
            except Exception as exc:
                reason = failure_reason(exc)
                raise ActionError(f"could not post in the run's thread: {reason}") from exc
            return "the run's thread"
        ids = self.deps.config.channels.get(channel)
        target = getattr(ids, root.surface, None) if ids else None
        if target is None:
            raise ActionError(f"no channel `{channel}` configured for {root.surface}")
        try:
            async with asyncio.timeout(self.chat_timeout):
                await self.chat(root.surface).post_message(
                    Place(root.surface, str(target), name=channel), text
                )
        except Exception as exc:
            raise ActionError(f"could not post to #{channel}: {failure_reason(exc)}") from exc
        return f"#{channel}"

    async def overdue(self, run: RunRecord, took: float, roles: list[str]) -> None:
        """The run is still going at twice its estimate: say so once in its thread,
        mentioning whoever holds ``roles``, with Cancel at hand."""
        chat = self.chat(run.surface)
        mentions = [chat.mention(i) for i in role_identities(roles, run.surface, self.deps.config)]
        cancel = Button(ButtonAction.CANCEL, run.id, style="danger", confirm="Cancel this run?")
        await self._queue_post(run, overdue_line(run, took, mentions), [cancel])

    # -- what commands and decisions ask of it ---------------------------------------------

    def first_start(self, run_id: int) -> None:
        """A run just started here for the first time: it has no steps yet, none to read."""
        self.cards.first_start(run_id)

    def request_refresh(self, run_id: int, current: RunRecord | None = None) -> None:
        """Queue an edit of the run's card; ``current`` is the run as a transition just
        returned it. Requests made before the queued edit begins share it."""
        if current is not None and current.status is not RunStatus.RUNNING:
            self.forget_row(run_id)  # what is cached of it describes it running
        self.cards.owed.discard(run_id)
        self.outbox.request_card(run_id, current)

    async def settle(self) -> None:
        """Wait until every queued post and card edit is delivered (or given up and logged)."""
        await self.outbox.settle()

    async def refresh_card(self, run: RunRecord, *, current: bool = False) -> None:
        """Edit the run's card to show where it stands: read from the store, or with
        ``current``, ``run`` as a transition just returned it. Waits for the edit unless the
        run is executing (a run never waits for chat)."""
        self.request_refresh(run.id, run if current else None)
        await self._wait_unless_running(run)

    async def announce(self, run: RunRecord, text: str) -> None:
        """Edit the card and say ``text`` in its thread; ``run`` is as the caller just read or
        changed it. Waits until both are delivered unless the run is executing."""
        await self._close_steps_left_open(run)
        self.request_refresh(run.id, run)
        await self._queue_post(run, text)
        await self._wait_unless_running(run)

    async def thread(
        self,
        run: RunRecord,
        text: str,
        buttons: list[Button] | None = None,
        *,
        posted: Callable[[MessageRef], Awaitable[None]] | None = None,
    ) -> None:
        """Say ``text`` in the run's thread after what is queued for it; waits until it is
        delivered unless the run is executing. ``posted`` is told where the message went."""
        await self._queue_post(run, text, buttons, posted=posted)
        await self._wait_unless_running(run)

    async def resync_cards(self) -> None:
        """Retry the card and message edits that failed while chat was unreachable."""
        self.outbox.retry_failed_edits()
        for run_id in list(self.cards.stale):
            run = await self.store.get_run(run_id)
            if run is None:
                self.cards.stale.discard(run_id)
                continue
            await self.refresh_card(run)

    def forget(self, run_id: int) -> None:
        """Drop what is cached of a run: its next card edit reads the store."""
        self.cards.forget(run_id)
        self.outbox.forget_current(run_id)

    def forget_row(self, run_id: int) -> None:
        self.cards.forget_row(run_id)
        self.outbox.forget_current(run_id)

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

    # -- helpers --------------------------------------------------------------------------

    async def _queue_post(
        self,
        run: RunRecord,
        text: str,
        buttons: list[Button] | None = None,
        *,
        delivered: asyncio.Future[None] | None = None,
        posted: Callable[[MessageRef], Awaitable[None]] | None = None,
    ) -> None:
        """Queue ``text`` (redacted) for the thread of ``run``, a top-level run."""
        card = run.card or (await require_run(self.store, run.id)).card
        if card is None:
            if delivered is not None:
                delivered.set_exception(ActionError("the run has no card to reply under"))
            return
        self.outbox.post(
            run.id, card, self.deps.redactor(text), buttons, delivered=delivered, posted=posted
        )

    async def _wait_unless_running(self, run: RunRecord) -> None:
        """Let a command's answer land in order before the command returns; a run that is
        executing goes on instead (its outbox delivers without it)."""
        if run.status is not RunStatus.RUNNING:
            await self.outbox.flushed(run.id)

    async def _close_steps_left_open(self, run: RunRecord) -> None:
        """A run stopped by someone else than the process executing it (a cancel from
        another replica, a sweep after its process died) has steps nobody will close: close
        them here. A run executing here closes its own as its task stops."""
        if run.status not in _STOPPED or run.started_at is None or run.owner == self.owner:
            return
        try:
            await self.store.close_open_steps(
                run.id, summary=f"the run was {run.status.value}", actor=SYSTEM
            )
        except Exception:
            log.warning("closing_steps_failed", run=run.id, exc_info=True)
