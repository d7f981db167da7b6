"""Keeping chat up to date with runs: the card edited in place, progress in its thread.

This is the executor's :class:`~bot.observer.RunObserver`. Chat never fails or stalls a run:
what a run says goes into its outbox, delivered in order by a task the run never waits for,
each chat call bounded by :attr:`Progress.chat_timeout`. A post that fails is logged and
dropped; a card (or an approval request) whose edit failed is remembered and brought up to
date by :meth:`Progress.resync_cards` once chat answers again.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import structlog

from bot.cards import STATUS_EMOJI, STEP_MARK, format_expiry, format_params, render_run_card
from bot.chat import Button, ButtonAction, Card, Chat, MessageRef, Place
from bot.db.records import ApprovalRecord, RunRecord, StepRecord
from bot.lifecycle import TERMINAL, RunStatus, StepStatus
from bot.lookups import require_run
from bot.observer import safely
from bot.policy import approver_identities
from bot.replies import format_output
from bot.runtime import Dependencies
from playbooks.durations import format_duration
from playbooks.errors import ActionError, ChatOpsError
from playbooks.model import ApprovalPolicy, Playbook
from playbooks.plan import Plan, build_plan

__all__ = ["CHAT_TIMEOUT", "Progress", "outcome_message"]

log = structlog.get_logger(__name__)

CHAT_TIMEOUT = 10.0
"""Seconds one chat call may take before it is given up (and logged)."""
# A step's output under its line in the thread: the end of it, where errors usually are.
THREAD_OUTPUT_LINES = 15
THREAD_OUTPUT_CHARS = 1500
INTERRUPTED_WAIT = "⏸ Interrupted before this was decided; Resume asks again."
PLANS_KEPT = 2048  # above the runs one process executes at once, so theirs stay
# Statuses another actor gives a run; steps it left open are closed by whoever set it.
_STOPPED = frozenset({RunStatus.CANCELLED, RunStatus.INTERRUPTED})
_OPEN_STEP = frozenset({StepStatus.RUNNING, StepStatus.WAITING})


class _CardEdit:
    """In an outbox: edit the card to show the run as it stands when the edit is made."""


_CARD_EDIT = _CardEdit()


@dataclass(slots=True)
class _Post:
    ref: MessageRef
    text: str
    buttons: list[Button] | None = None
    delivered: asyncio.Future[None] | None = None  # for a poster that must know (notify)
    posted: Callable[[MessageRef], Awaitable[None]] | None = None  # told where it went


@dataclass(slots=True)
class _Edit:
    """In an outbox: a posted message (an approval request) says something new, buttonless."""

    ref: MessageRef
    text: str


class _Outbox:
    """One run's chat output, delivered in order by one task: thread posts one by one, card
    edits coalesced (one queued edit stands for every request made before it begins). A
    bare future is a marker, resolved once everything queued before it is delivered."""

    __slots__ = ("card_queued", "current", "items", "task")

    def __init__(self) -> None:
        self.items: deque[_Post | _Edit | _CardEdit | asyncio.Future[None]] = deque()
        self.card_queued = False
        self.current: RunRecord | None = None  # the newest row a caller handed over
        self.task: asyncio.Task[None] | None = None


class Progress:
    def __init__(self, deps: Dependencies, chats: dict[str, Chat], *, owner: str) -> None:
        self.deps = deps
        self.owner = owner
        self.store = deps.store
        self.catalog = deps.catalog
        self.chats = chats
        self.chat_timeout = CHAT_TIMEOUT
        # Plans are pure but not free: kept for the runs seen last, so their cards re-render
        # fast. Bounded, since a card nobody presses Run on stays pending for good.
        self._plans: OrderedDict[int, Plan] = OrderedDict()
        self._stale_cards: set[int] = set()
        self._stale_edits: dict[MessageRef, tuple[int, _Edit]] = {}  # failed, to retry
        # Steps of the runs executing in this process, as the executor reports them: a card
        # edit then reads only the run's row. Runs execute on one replica at a time, so for
        # those runs nothing else writes steps.
        self._steps: dict[int, dict[tuple[str, str], StepRecord]] = {}
        self._runs: dict[int, RunRecord] = {}
        self._outboxes: dict[int, _Outbox] = {}
        # Cards of runs executing here as last shown, to skip edits that would change nothing.
        self._last_cards: dict[int, Card] = {}
        # Runs whose card owes a finished step: edited when the next step starts or the run
        # changes, so the last step and the run's end make one edit, not two.
        self._card_owed: set[int] = set()

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
        self._remember_step(step)
        if run.id in self._card_owed:
            self.request_refresh(run.id)

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
        if detail:
            text += f": {detail}"
        # A notify step's output is the message it has just posted.
        if step.output and step.action != "notify":
            text += "\n" + format_output(
                step.output,
                max_lines=THREAD_OUTPUT_LINES,
                max_chars=THREAD_OUTPUT_CHARS,
                cut_note=f"output cut; `/playbook status {root.id}` shows more",
            )
        await self._queue_post(root, text)
        if root.id != run.id:
            return
        if run.id in self._runs:
            self._card_owed.add(run.id)  # still executing here: the next report edits it
        else:
            self.request_refresh(run.id)

    async def step_retrying(
        self, run: RunRecord, step_id: str, attempt: int, of: int, reason: str
    ) -> None:
        root = await self.root(run)
        text = f"🔁 `{step_id}` failed ({reason}); attempt {attempt} of {of}…"
        await self._queue_post(root, text)

    async def rollback_started(self, run: RunRecord) -> None:
        await self._queue_post(await self.root(run), "↩️ Rolling back…")

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
        identities = approver_identities(policy, root.surface, self.deps.config)
        if not policy.allow_self_approval:
            # Mention only those who can decide: not the requester (a group they are in
            # still notifies them; Slack cannot mention a group but one member).
            requester = root.requested_by.removeprefix(f"{root.surface}:")
            identities = [i for i in identities if i != requester]
        roles = ", ".join(policy.approvers) or "anyone allowed"
        who = " ".join(chat.mention(i) for i in identities) if identities else f"({roles})"
        what = f"step `{step_id}` of run #{run.id}" if step_id else f"run #{run.id}"
        lead = "⏰ Reminder: still waiting for" if reminder else "🔐 Approval needed for"
        text = (
            f"{lead} {what} (`{run.playbook}`, {format_params(run.params)}), requested by "
            f"{run.requester_display}. {who}: {policy.min_approvals} approval"
            f"{'s' if policy.min_approvals > 1 else ''} from {roles} needed; "
            f"expires {format_expiry(expires_at, policy.expires_after)}."
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
        playbook = self.catalog.get(run.playbook) if run.playbook in self.catalog else None
        if playbook is not None and not _asks_approval(playbook):
            return  # nothing was ever asked: spare the store a write
        root = await self.root(run)
        outcome = self.deps.redactor(outcome)
        for ref, said in await self.store.close_approval_messages(run.id, step_id):
            self._outbox(root.id).items.append(_Edit(ref, f"{said}\n{outcome}"))
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
                raise ActionError(f"could not post in the run's thread: {_why(exc)}") from exc
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
            raise ActionError(f"could not post to #{channel}: {_why(exc)}") from exc
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
        """Keep the run's plan for its next card edits (the oldest kept one goes if too many)."""
        self._plans[run_id] = plan
        self._plans.move_to_end(run_id)
        if len(self._plans) > PLANS_KEPT:
            self._plans.popitem(last=False)

    def request_refresh(self, run_id: int, current: RunRecord | None = None) -> None:
        """Queue an edit of the run's card; ``current`` is the run as a transition just
        returned it. Requests made before the queued edit begins share it."""
        if current is not None and current.status is not RunStatus.RUNNING:
            self._forget_row(run_id)  # what is cached of it describes it running
        self._card_owed.discard(run_id)
        box = self._outbox(run_id)
        if current is not None and (box.current is None or current.version >= box.current.version):
            box.current = current
        if not box.card_queued:
            box.card_queued = True
            box.items.append(_CARD_EDIT)

    async def settle(self) -> None:
        """Wait until every queued post and card edit is delivered (or given up and logged)."""
        while self._outboxes:
            tasks = [box.task for box in self._outboxes.values() if box.task is not None]
            await asyncio.gather(*tasks, return_exceptions=True)

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
        for ref, (run_id, edit) in list(self._stale_edits.items()):
            del self._stale_edits[ref]
            self._outbox(run_id).items.append(edit)  # failing again puts it back
        for run_id in list(self._stale_cards):
            run = await self.store.get_run(run_id)
            if run is None:
                self._stale_cards.discard(run_id)
                continue
            await self.refresh_card(run)

    def forget(self, run_id: int) -> None:
        """Drop what is cached of a run: its next card edit reads the store."""
        self._steps.pop(run_id, None)
        self._forget_row(run_id)

    def _forget_row(self, run_id: int) -> None:
        """Drop the run's row and card as last seen; its steps stay for :meth:`_card_state`
        to judge."""
        self._runs.pop(run_id, None)
        self._last_cards.pop(run_id, None)
        box = self._outboxes.get(run_id)
        if box is not None:
            box.current = None

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

    # -- the outbox -----------------------------------------------------------------------

    def _outbox(self, run_id: int) -> _Outbox:
        box = self._outboxes.get(run_id)
        if box is None:
            box = self._outboxes[run_id] = _Outbox()
            box.task = asyncio.create_task(self._drain(run_id, box), name=f"chat-out-{run_id}")
        return box

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
        post = _Post(card, self.deps.redactor(text), buttons, delivered, posted)
        self._outbox(run.id).items.append(post)

    async def _wait_unless_running(self, run: RunRecord) -> None:
        """Let a command's answer land in order before the command returns; a run that is
        executing goes on instead (its outbox delivers without it)."""
        box = self._outboxes.get(run.id)
        if box is None or run.status is RunStatus.RUNNING:
            return
        marker = asyncio.get_running_loop().create_future()
        box.items.append(marker)
        await marker

    async def _drain(self, run_id: int, box: _Outbox) -> None:
        try:
            while box.items:
                item = box.items.popleft()
                if isinstance(item, _Post):
                    await self._deliver_post(run_id, item)
                elif isinstance(item, _Edit):
                    await self._deliver_edit(run_id, item)
                elif isinstance(item, _CardEdit):
                    box.card_queued = False
                    current, box.current = box.current, None
                    await self._deliver_card_edit(run_id, current)
                elif not item.done():
                    item.set_result(None)
        finally:
            if self._outboxes.get(run_id) is box:
                del self._outboxes[run_id]
            for left in box.items:  # only when cancelled: release whoever waits
                if isinstance(left, _Post) and left.delivered and not left.delivered.done():
                    left.delivered.set_exception(ActionError("the bot stopped before posting"))
                elif isinstance(left, asyncio.Future) and not left.done():
                    left.set_result(None)

    async def _deliver_post(self, run_id: int, post: _Post) -> None:
        try:
            async with asyncio.timeout(self.chat_timeout):
                ref = await self.chat(post.ref.surface).post_in_thread(
                    post.ref, post.text, post.buttons
                )
            if post.posted is not None:
                await safely(post.posted(ref))
        except Exception as exc:
            if post.delivered is not None:
                if not post.delivered.done():  # done: its poster was cancelled meanwhile
                    post.delivered.set_exception(exc)
            else:
                log.warning("thread_post_failed", run=run_id, error=_why(exc), exc_info=_trace(exc))
        else:
            if post.delivered is not None and not post.delivered.done():
                post.delivered.set_result(None)

    async def _deliver_edit(self, run_id: int, edit: _Edit) -> None:
        try:
            async with asyncio.timeout(self.chat_timeout):
                await self.chat(edit.ref.surface).update_message(edit.ref, edit.text)
        except Exception as exc:
            self._stale_edits[edit.ref] = (run_id, edit)
            log.warning("message_edit_failed", run=run_id, error=_why(exc), exc_info=_trace(exc))

    async def _deliver_card_edit(self, run_id: int, current: RunRecord | None) -> None:
        try:
            state = await self._card_state(run_id, current)
            if state is not None:
                await self._edit_card(*state)
        except Exception as exc:
            self._stale_cards.add(run_id)
            log.warning("card_edit_failed", run=run_id, error=_why(exc), exc_info=_trace(exc))

    async def _card_state(
        self, run_id: int, current: RunRecord | None = None
    ) -> tuple[RunRecord, list[StepRecord], list[ApprovalRecord]] | None:
        """What the card shows: the run's row, its steps and (if it has any) approvals.

        For a run executing here, the row last seen stands in for a read: only this process
        changes it while it runs, and a change made elsewhere (a cancel) reaches :meth:`forget`
        before the run's next report. Its steps as the executor reported them stand in for
        the store's too, and still do once it has ended, if it ended here with every step
        closed: nothing else writes the steps of a run that is not running.
        """
        run = current or self._runs.get(run_id) or await self.store.get_run(run_id)
        if run is None:
            return None
        executing_here = run.status is RunStatus.RUNNING and run.owner == self.owner
        cached = self._steps.get(run_id)
        if not executing_here:
            self.forget(run_id)  # ended, or moved to another replica
            if run.owner != self.owner or cached is None or _any_open(cached.values()):
                cached = None
        else:
            self._runs[run_id] = run
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

    def _remember_step(self, step: StepRecord) -> None:
        steps = self._steps.get(step.run_id)
        if steps is not None:
            steps[(step.phase, step.step_id)] = step

    async def _edit_card(
        self, current: RunRecord, steps: list[StepRecord], decisions: list[ApprovalRecord]
    ) -> None:
        ended = current.status in TERMINAL
        plan = self._plans.pop(current.id, None)
        if current.card is None:
            return
        if plan is None:
            plan = self.plan(self.catalog.get(current.playbook), current.params)
        if not ended:
            self.remember_plan(current.id, plan)
        card = render_run_card(current, plan, steps, decisions)
        if self._last_cards.get(current.id) == card:
            self._stale_cards.discard(current.id)  # chat already shows exactly this
            return
        try:
            async with asyncio.timeout(self.chat_timeout):
                await self.chat(current.surface).update_card(current.card, card)
        except Exception:
            self._stale_cards.add(current.id)
            raise
        self._stale_cards.discard(current.id)
        if current.id in self._runs:  # executing here: nobody else edits its card meanwhile
            self._last_cards[current.id] = card

    async def _close_steps_left_open(self, run: RunRecord) -> None:
        """A run stopped by someone else than the process executing it (a cancel from
        another replica, a sweep after its process died) has steps nobody will close: close
        them here. A run executing here closes its own as its task stops."""
        if run.status not in _STOPPED or run.started_at is None or run.owner == self.owner:
            return
        try:
            await self.store.close_open_steps(
                run.id, summary=f"the run was {run.status.value}", actor="system"
            )
        except Exception:
            log.warning("closing_steps_failed", run=run.id, exc_info=True)


def _trace(exc: BaseException) -> bool:
    """Whether a failed chat call's traceback is worth logging: not for a plain timeout."""
    return not isinstance(exc, TimeoutError)


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "chat did not answer in time"
    if isinstance(exc, ChatOpsError):
        return exc.reason
    return str(exc) or type(exc).__name__


def _any_open(steps: Iterable[StepRecord]) -> bool:
    return any(step.status in _OPEN_STEP for step in steps)


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
